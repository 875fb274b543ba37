-- title: Sessions whose event chain has gaps
-- pci: 10.3.4
-- Sessions whose stored events do not run seq 0, 1, 2… without gaps. `reporter generate` checks the hashes (integrity/integrity.json)
-- too; this finds candidates in SQL.
SELECT
    session,
    count() AS events,
    min(seq) AS first_seq,
    max(seq) AS last_seq,
    toInt64(max(seq) + 1) - toInt64(count()) AS missing
FROM events FINAL
WHERE kafka_topic LIKE '%pangate.audit'
GROUP BY session
HAVING first_seq != 0 OR missing != 0
ORDER BY session
