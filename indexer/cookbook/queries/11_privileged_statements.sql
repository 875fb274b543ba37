-- title: Schema, role and privilege changes, and human use of workload accounts
-- pci: 10.2.1.2, 10.2.1.5, 10.2.1.7
-- DDL (CREATE/ALTER/DROP), role and grant statements, and every statement of a session flagged as a
-- person using a workload account.
SELECT
    time,
    session,
    subject,
    human,
    role,
    kind,
    outcome,
    sql
FROM (SELECT time, time_us, session, role, kind, outcome, sql FROM statements FINAL)
ANY LEFT JOIN (SELECT session, subject, human FROM sessions FINAL) USING session
WHERE kind IN ('ddl', 'role') OR human = 1
ORDER BY time_us
