-- title: Who accessed cardholder data yesterday, and which tables
-- pci: 10.2.1.1, 10.2.2
-- Every statement that touched a table or column tagged as cardholder data, reads included, grouped by the
-- OIDC identity behind the JIT role and by table. "Yesterday" is the UTC day before today; for today or any
-- other days use query 20. Rows are those the statement returned or changed as PostgreSQL answered it
-- (statement_identities: each statement with its outcome and its session's identity, one view).
SELECT
    issuer,
    subject,
    role,
    arrayJoin(tables) AS table_name,
    count() AS statements,
    sum(row_count) AS rows_returned,
    countIf(outcome = 'error') AS failed,
    min(time) AS first_access,
    max(time) AS last_access
FROM statement_identities
WHERE cardholder = 1 AND toDate(time) = yesterday()
GROUP BY issuer, subject, role, table_name
ORDER BY issuer, subject, table_name
