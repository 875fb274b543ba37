-- title: Gateways and their checkpoint gaps
-- pci: 10.2.1.6, 10.3.4, 10.7.2
-- Per gateway run: checkpoints seen, numbers missing between the first and the last (deleted or never
-- written), and the longest silence between consecutive checkpoints compared with the interval. A gateway
-- writes a checkpoint every interval, empty ones included, so a gap means the audit trail paused.
SELECT
    instance,
    run,
    count() AS checkpoints,
    min(checkpoint_number) AS first_number,
    max(checkpoint_number) AS last_number,
    toInt64(max(checkpoint_number) - min(checkpoint_number) + 1) - toInt64(count()) AS missing_checkpoints,
    any(interval_ms) AS interval_ms,
    arrayReduce('max', arrayMap((f, t) -> toInt64(f) - toInt64(t),
        arraySlice(arraySort((x, n) -> n, groupArray(from_us), groupArray(checkpoint_number)), 2),
        arraySlice(arraySort((x, n) -> n, groupArray(to_us), groupArray(checkpoint_number)), 1, count() - 1))) / 1000 AS longest_gap_ms,
    max(time) AS last_checkpoint
FROM checkpoints FINAL
GROUP BY instance, run
ORDER BY instance, last_checkpoint
