-- title: All approvals with requester, approver, decision and latency
-- pci: 8.6.1, 6.5.1, 10.2.1.2
-- One row per approval: who asked (OIDC identity), for which statement and rule, who decided what, and how
-- long it took. The first decision (or expiry) in time applies; a request without one is still pending.
SELECT
    approval_id,
    minIf(time, event_type = 'approval.requested') AS requested_at,
    anyIf(subject, event_type = 'approval.requested') AS requester,
    anyIf(target, event_type = 'approval.requested') AS target,
    anyIf(sql, event_type = 'approval.requested') AS statement,
    anyIf(rule, event_type = 'approval.requested') AS rule,
    if(countIf(event_type IN ('approval.decided', 'approval.expired')) = 0, 'pending',
       argMinIf(decision, time_us, event_type IN ('approval.decided', 'approval.expired'))) AS outcome,
    argMinIf(decided_by, time_us, event_type = 'approval.decided') AS approver,
    argMinIf(decided_by_email, time_us, event_type = 'approval.decided') AS approver_email,
    argMinIf(reason, time_us, event_type = 'approval.decided') AS approver_reason,
    argMinIf(latency_ms, time_us, event_type = 'approval.decided') AS latency_ms
FROM approvals FINAL
GROUP BY approval_id
ORDER BY requested_at, approval_id
