-- title: Records the indexer refused (dead letters)
-- pci: 10.3.4, 10.7.2
-- Kafka records that are not valid pangate events (malformed, failing the JSON Schema, edited so the hash
-- no longer matches, unknown type). Any row here is an integrity incident to investigate.
SELECT
    stage,
    kafka_topic,
    count() AS records,
    any(reason) AS example_reason,
    min(kafka_time) AS first_seen,
    max(kafka_time) AS last_seen
FROM dead_letters FINAL
GROUP BY stage, kafka_topic
ORDER BY records DESC, stage
