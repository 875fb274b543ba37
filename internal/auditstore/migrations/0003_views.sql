-- pangate audit store, schema version 3: views that make the auditors' common joins one-liners
-- (docs/auditors.md). ClickHouse 18.16 allows one JOIN per SELECT and no IN over a tuple of columns, so
-- "statements with who ran them" and "approvals with requester and approver" each took a nested subquery;
-- these views hold that join once. They store nothing (plain views), read their tables with FINAL inside,
-- and are filtered like tables: SELECT … FROM statement_identities WHERE cardholder = 1 AND …
-- ClickHouse 18.16 reads the whole of the joined tables first, so narrow by time when the store is large.

-- statement_identities: every statement with its outcome (statement_outcomes) and the identity of its
-- session (sessions): the OIDC issuer and subject behind the JIT role, whether a person used a workload
-- account, the client, the application, the target and the token's claims. run_id, workflow, repository,
-- ref and sha are the CI claims of a workload token ('' when the token has none). A statement whose
-- session.started is not in the store (deleted, or outside the kept partitions) has an empty identity.
CREATE VIEW IF NOT EXISTS statement_identities AS
SELECT
    event_id, time, time_us, session, seq, gateway_instance, event_type, stmt_index, sql, fingerprint, params, kind,
    tables, columns, cardholder, risk_tags, risk_score, protocol, role, outcome, sqlstate, error, command_tag,
    row_count, duration_us, mask_shape, masked_columns, masked_counts, masked_total, sample, rule, block_reason,
    approval_id, approval_decision, approval_by, intent_outcome, completion_event_id, completed_us,
    issuer, subject, human, groups, claim_keys, claim_values, client_addr, client_tls, application, target,
    target_database, session_role, session_started,
    claim_values[indexOf(claim_keys, 'repository')] AS repository,
    claim_values[indexOf(claim_keys, 'workflow')] AS workflow,
    claim_values[indexOf(claim_keys, 'run_id')] AS run_id,
    claim_values[indexOf(claim_keys, 'ref')] AS ref,
    claim_values[indexOf(claim_keys, 'sha')] AS sha
FROM statement_outcomes
ANY LEFT JOIN
(
    SELECT session, issuer, subject, human, groups, claim_keys, claim_values, client_addr, client_tls, application,
           target, target_database, role AS session_role, time AS session_started
    FROM sessions FINAL
) USING session;

-- approval_decisions: one row per approval (its events on both topics grouped by approval_id): who asked
-- (the requester's OIDC identity, from approval.requested), for which statement and rule, and the first
-- decision or expiry in time: outcome approved, denied, withdrawn, expired, or pending when there is none,
-- with the approver (Slack user id, "client" or "terminal:<user>"), name, email, reason and latency.
CREATE VIEW IF NOT EXISTS approval_decisions AS
SELECT
    approval_id,
    minIf(time, event_type = 'approval.requested') AS requested_at,
    minIf(time_us, event_type = 'approval.requested') AS requested_us,
    anyIf(session, event_type = 'approval.requested') AS session,
    anyIf(issuer, event_type = 'approval.requested') AS requester_issuer,
    anyIf(subject, event_type = 'approval.requested') AS requester,
    anyIf(target, event_type = 'approval.requested') AS target,
    anyIf(role, event_type = 'approval.requested') AS role,
    anyIf(sql, event_type = 'approval.requested') AS statement,
    anyIf(statement_kind, event_type = 'approval.requested') AS statement_kind,
    anyIf(tables, event_type = 'approval.requested') AS tables,
    anyIf(rule, event_type = 'approval.requested') AS rule,
    anyIf(reason, event_type = 'approval.requested') AS hold_reason,
    anyIf(approver_group, event_type = 'approval.requested') AS approver_group,
    countIf(event_type IN ('approval.decided', 'approval.expired')) AS decisions,
    if(countIf(event_type IN ('approval.decided', 'approval.expired')) = 0, 'pending',
       argMinIf(decision, time_us, event_type IN ('approval.decided', 'approval.expired'))) AS outcome,
    argMinIf(time, time_us, event_type IN ('approval.decided', 'approval.expired')) AS decided_at,
    argMinIf(decided_by, time_us, event_type = 'approval.decided') AS approver,
    argMinIf(decided_by_name, time_us, event_type = 'approval.decided') AS approver_name,
    argMinIf(decided_by_email, time_us, event_type = 'approval.decided') AS approver_email,
    argMinIf(reason, time_us, event_type = 'approval.decided') AS approver_reason,
    argMinIf(latency_ms, time_us, event_type = 'approval.decided') AS latency_ms
FROM approvals FINAL
GROUP BY approval_id;
