-- title: Authentication failures by issuer and reason, last 7 days
-- pci: 10.2.1.4
-- Refused logins (bad, expired or foreign tokens, policy). Issuer and subject of a failure are unverified
-- claims read from the token, when it could be read at all.
SELECT
    issuer,
    reason,
    count() AS failures,
    uniqExact(client_addr) AS client_addresses,
    uniqExact(subject) AS subjects,
    min(time) AS first_failure,
    max(time) AS last_failure
FROM auth_events FINAL
WHERE outcome = 'failed' AND time >= now() - INTERVAL 7 DAY
GROUP BY issuer, reason
ORDER BY failures DESC, issuer, reason
