-- title: Sessions without an end event
-- pci: 10.2.1.6, 10.3.4
-- Sessions that started more than an hour ago and have no session.ended: a gateway crash, a lost event or
-- a deleted tail. Cross-check with the checkpoints (which list each session's head) and the integrity report of `reporter generate` (integrity/integrity.json).
SELECT
    session,
    time AS started,
    gateway_instance,
    issuer,
    subject,
    role,
    client_addr
FROM sessions FINAL
WHERE time < now() - INTERVAL 1 HOUR
  AND session NOT IN (SELECT session FROM session_ends FINAL)
ORDER BY started
