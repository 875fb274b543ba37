-- title: Schema, role and privilege changes, and human use of workload accounts
-- pci: 10.2.1.2, 10.2.1.5, 10.2.1.7
-- DDL (CREATE/ALTER/DROP), role and grant statements, and every statement of a session flagged as a
-- person using a workload account, with what PostgreSQL answered (a DDL that failed shows error and its
-- SQLSTATE).
SELECT
    time,
    session,
    subject,
    human,
    role,
    kind,
    outcome,
    sqlstate,
    sql
FROM (SELECT time, time_us, session, role, kind, outcome, sqlstate, sql FROM statement_outcomes)
ANY LEFT JOIN (SELECT session, subject, human FROM sessions FINAL) USING session
WHERE kind IN ('ddl', 'role') OR human = 1
ORDER BY time_us
