-- title: Who accessed cardholder data yesterday, and which tables
-- pci: 10.2.1.1, 10.2.2
-- Every statement that touched a table or column tagged as cardholder data, reads included, grouped by the
-- OIDC identity behind the JIT role and by table. "Yesterday" is the UTC day before today. Rows are those
-- the statement returned or changed as PostgreSQL answered it (statement_outcomes: for a write or an export
-- recorded ahead, its query.completed).
SELECT
    issuer,
    subject,
    role,
    table_name,
    count() AS statements,
    sum(row_count) AS rows_returned,
    countIf(outcome = 'error') AS failed,
    min(time) AS first_access,
    max(time) AS last_access
FROM
(
    SELECT session, role, arrayJoin(tables) AS table_name, row_count, outcome, time
    FROM statement_outcomes
    WHERE cardholder = 1 AND toDate(time) = yesterday()
)
ANY LEFT JOIN (SELECT session, issuer, subject FROM sessions FINAL) USING session
GROUP BY issuer, subject, role, table_name
ORDER BY issuer, subject, table_name
