-- title: Coverage of the audit store: events per day and type
-- pci: 10.5.1, 10.4.1.1
-- What the store holds per UTC day and event type, with the earliest and latest event of each day: the
-- evidence that at least 12 months are kept and that no day is missing.
SELECT
    toDate(time) AS day,
    event_type,
    count() AS events,
    min(time) AS earliest,
    max(time) AS latest
FROM events FINAL
GROUP BY day, event_type
ORDER BY day, event_type
