-- title: Who accessed cardholder data today, or in any period of days
-- pci: 10.2.1.1, 10.2.2, 10.4.1
-- param: from_day
-- param: to_day
-- Query 1 for any days: from_day to to_day inclusive (YYYY-MM-DD, UTC); empty means today, so as written
-- it answers "today" (a demo or a same-day check has no "yesterday" yet). Same rows as query 1:
-- identity, role and table, statements, rows returned or changed, failures, first and last access.
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
WHERE cardholder = 1
  AND toDate(time) >= toDate(if(('' AS from_day) = '', toString(today()), from_day))
  AND toDate(time) <= toDate(if(('' AS to_day) = '', toString(today()), to_day))
GROUP BY issuer, subject, role, table_name
ORDER BY issuer, subject, table_name
