-- title: Audit store retention and reads by the reporter
-- pci: 10.5.1, 10.2.1.3
-- Earliest and latest event held, partitions dropped by retention (with the months kept), and reporter runs
-- that read the audit store.
SELECT
    time,
    event_type,
    source_instance,
    table_name,
    partitions,
    keep_months,
    report_kind,
    location
FROM lifecycle FINAL
WHERE event_type IN ('retention.dropped', 'report.generated')
ORDER BY time_us
