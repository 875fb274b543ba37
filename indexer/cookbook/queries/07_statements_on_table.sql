-- title: Statements that touched one table
-- pci: 10.2.1.1, 10.2.1.7
-- param: target_table
-- Every statement that read or changed the table, with the identity behind it and its outcome (for writes,
-- the rows PostgreSQL reported). Replace the table name in
-- the WITH line (as the gateway records it, e.g. cards or public.cards).
SELECT
    time,
    session,
    issuer,
    subject,
    role,
    kind,
    outcome,
    sqlstate,
    row_count,
    cardholder
FROM
(
    WITH 'cards' AS target_table
    SELECT time, time_us, session, role, kind, outcome, sqlstate, row_count, cardholder
    FROM statement_outcomes
    WHERE has(tables, target_table)
)
ANY LEFT JOIN (SELECT session, issuer, subject FROM sessions FINAL) USING session
ORDER BY time_us, session
