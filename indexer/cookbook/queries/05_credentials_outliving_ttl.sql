-- title: JIT credentials alive longer than their TTL
-- pci: 8.6.3, 10.2.1.5
-- Just-in-time roles revoked after their TTL ran out, or never revoked although the TTL has passed.
-- alive_ms is issue to revoke (or to now, if never revoked).
SELECT
    role,
    target,
    for_session,
    issued_us,
    ttl_ms,
    revoked_us,
    revoke_reason,
    if(revoked_us = 0, toInt64(toUInt64(toUnixTimestamp(now())) * 1000000 - issued_us), toInt64(revoked_us) - toInt64(issued_us)) / 1000 AS alive_ms
FROM
(
    SELECT role, target, for_session, time_us AS issued_us, ttl_ms
    FROM credentials FINAL
    WHERE event_type = 'credential.issued'
)
ANY LEFT JOIN
(
    SELECT role, target, min(time_us) AS revoked_us, any(reason) AS revoke_reason
    FROM credentials FINAL
    WHERE event_type = 'credential.revoked'
    GROUP BY role, target
) USING role, target
WHERE alive_ms > ttl_ms
ORDER BY issued_us
