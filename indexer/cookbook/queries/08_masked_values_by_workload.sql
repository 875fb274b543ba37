-- title: Masked values by workload
-- pci: 3.4.1, 3.5.1
-- How many PANs the gateway masked in results, per workload identity: statements that returned masked
-- values and the total count of masked values, exports (COPY TO) included.
SELECT
    subject,
    count() AS statements,
    countIf(masked_total > 0) AS statements_with_masking,
    sum(masked_total) AS masked_values
FROM (SELECT session, masked_total FROM statement_outcomes WHERE event_type = 'query.executed')
ANY LEFT JOIN (SELECT session, subject FROM sessions FINAL) USING session
GROUP BY subject
ORDER BY masked_values DESC, subject
