-- title: Gateway runs, clock source and stops
-- pci: 10.2.1.6, 10.6
-- Each gateway process run: when it started and stopped (a run without a stop ended abnormally or is still
-- running), its clock source and measured offset, and the policy it loaded.
SELECT
    source_instance AS instance,
    session AS run,
    minIf(time, event_type = 'gateway.started') AS started,
    maxIf(time, event_type = 'gateway.stopped') AS stopped,
    anyIf(reason, event_type = 'gateway.stopped') AS stop_reason,
    anyIf(clock_source, event_type = 'gateway.started') AS clock_source,
    anyIf(clock_synced, event_type = 'gateway.started') AS clock_synced,
    anyIf(clock_offset_us, event_type = 'gateway.started') AS clock_offset_us,
    anyIf(policy_hash, event_type = 'policy.loaded') AS policy_hash
FROM lifecycle FINAL
WHERE event_type IN ('gateway.started', 'gateway.stopped', 'policy.loaded')
GROUP BY instance, run
ORDER BY started
