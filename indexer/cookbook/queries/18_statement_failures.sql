-- title: Statements that failed, did not run, or have no recorded outcome
-- pci: 10.2.2, 10.2.1.4
-- Outcome error (PostgreSQL refused it: SQLSTATE and masked message), skipped (never run: an earlier
-- statement of the same batch failed or the session ended first) and forwarded (recorded ahead but no
-- query.completed followed: written by an older gateway, or the gateway stopped before the outcome; compare
-- with the integrity report). Blocked statements are in query 10.
SELECT
    time,
    session,
    subject,
    stmt_index,
    kind,
    outcome,
    sqlstate,
    error,
    sql
FROM
(
    SELECT time, time_us, session, stmt_index, kind, outcome, sqlstate, error, sql
    FROM statement_outcomes
    WHERE outcome IN ('error', 'skipped', 'forwarded')
)
ANY LEFT JOIN (SELECT session, subject FROM sessions FINAL) USING session
ORDER BY time_us, stmt_index
