-- title: All approvals with requester, approver, decision and latency
-- pci: 8.6.1, 6.5.1, 10.2.1.2
-- One row per approval: who asked (OIDC identity), for which statement and rule, who decided what, and how
-- long it took. The first decision (or expiry) in time applies; a request without one is still pending.
-- approval_decisions groups each approval's events of both topics; filter it like a table (WHERE outcome =
-- 'denied', WHERE requester = …).
SELECT
    approval_id,
    requested_at,
    requester,
    target,
    statement,
    rule,
    outcome,
    approver,
    approver_email,
    approver_reason,
    latency_ms
FROM approval_decisions
ORDER BY requested_at, approval_id
