-- title: What each export of cardholder data returned
-- pci: 10.2.1.1, 10.2.2, 3.4.1, 3.5.1
-- Every COPY … TO (of a table or a query) that touched cardholder data: who ran it, under which approval,
-- what PostgreSQL answered (rows copied), and how many values the gateway masked per column, with the
-- capped masked sample. unmasked_rows counts rows of the export for which a masked column has no masked
-- value (a card number the gateway did not recognise, or NULL): any export with unmasked_rows > 0 is a
-- cardholder_unmasked exception in the evidence package. outcome forwarded means no outcome was recorded.
SELECT
    time,
    session,
    subject,
    role,
    sql,
    outcome,
    sqlstate,
    command_tag,
    row_count,
    masked_columns,
    masked_counts,
    masked_total,
    if(outcome != 'ok', toInt64(0), if(masked_total = 0, row_count, greatest(toInt64(0), row_count - arrayReduce('min', masked_counts)))) AS unmasked_rows,
    approval_id,
    approval_by,
    sample
FROM
(
    SELECT time, time_us, session, role, sql, outcome, sqlstate, command_tag, row_count, masked_columns, masked_counts,
           masked_total, approval_id, approval_by, sample
    FROM statement_outcomes
    WHERE has(risk_tags, 'copy_out') AND cardholder = 1
)
ANY LEFT JOIN (SELECT session, subject FROM sessions FINAL) USING session
ORDER BY time_us
