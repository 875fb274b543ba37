package cookbook

import (
	"fmt"
	"strings"
)

const intro = `# Auditors' cookbook: querying pangate's audit store

<!-- Generated from indexer/cookbook/queries/*.sql by ` + "`go test ./indexer/cookbook -run TestDocs -update`" + `.
     Edit the .sql files, not this page. Every query here runs in the integration tests
     (integration/indexer, TestCookbook) against events produced through Kafka and ingested by the indexer. -->

pangate's indexer writes every audit event to ClickHouse (database ` + "`pangate`" + `). Connect as the read-only
` + "`auditor`" + ` user with clickhouse-client (native protocol) and paste a query:

    clickhouse-client --host HOST --port 9000 --user auditor --password … --database pangate

## Rules that make the numbers right

- **Always read with FINAL** (` + "`FROM statements FINAL`" + `). The indexer delivers at least once: after a crash it
  writes some events again. Every table is a ReplacingMergeTree keyed by the event id, and FINAL shows each event
  exactly once. A count without FINAL may be too high until ClickHouse merges the duplicates in the background.
- Times: ` + "`time`" + ` is a DateTime in UTC (second precision, used for partitions and ranges);
  ` + "`time_us`" + ` is the exact instant in microseconds since the epoch (order by it). Other instants are
  ` + "`*_us`" + ` columns (0 = not set).
- Maps are two arrays (` + "`claim_keys`" + `, ` + "`claim_values`" + `): ` + "`claim_values[indexOf(claim_keys, 'repository')]`" + `.
- Booleans are 0/1 (` + "`cardholder`" + `, ` + "`human`" + `, ` + "`client_tls`" + `).
- The identity behind a statement is on its session. **` + "`statement_identities`" + `** is every statement with its
  outcome and its session's identity (issuer, subject, human, client, application, claims, and the CI claims
  ` + "`repository`" + `, ` + "`workflow`" + `, ` + "`run_id`" + `, ` + "`ref`" + `, ` + "`sha`" + `) in one view: ` + "`SELECT subject, sql FROM statement_identities WHERE …`" + `.
  ClickHouse 18.16 takes one JOIN per SELECT and no ` + "`IN (col, col)`" + `; to join ` + "`sessions`" + ` yourself, nest it
  (` + "`ANY LEFT JOIN (SELECT session, issuer, subject FROM sessions FINAL) USING session`" + `).
- **` + "`approval_decisions`" + `** is one row per approval with requester, statement, rule, outcome (the first
  decision or expiry; ` + "`pending`" + ` without one), approver, reason and latency.
- **The outcome of a statement is in ` + "`statement_outcomes`" + `**, a view over ` + "`statements`" + ` and ` + "`completions`" + `
  (both read with FINAL inside it). A statement the gateway records before running it (writes, DDL, COPY,
  anything not proven free of side effects) is stored twice: a ` + "`query.executed`" + ` with outcome ` + "`forwarded`" + `, then a
  ` + "`query.completed`" + ` with what PostgreSQL answered. The view shows one row per statement with the completion's
  ` + "`outcome`" + ` (` + "`ok`" + `, ` + "`error`" + ` with ` + "`sqlstate`" + `, ` + "`skipped`" + ` = not run), ` + "`command_tag`" + `, ` + "`row_count`" + `, ` + "`masked_*`" + ` and
  ` + "`sample`" + `; ` + "`intent_outcome`" + ` is what the statements row says. ` + "`forwarded`" + ` there means no outcome was recorded
  (events of an older gateway, or a gateway that stopped first). ` + "`statements`" + ` and ` + "`statement_tables`" + ` keep the
  intent as recorded.
- Queries with a parameter have a ` + "`WITH 'value' AS name`" + ` line: edit the value.
- The raw envelope of every event is in ` + "`events`" + ` (` + "`record`" + ` holds the exact Kafka record, whose hash
  the reporter's integrity check in ` + "`reporter generate`" + ` recomputes; ` + "`reporter verify`" + ` checks a signed package offline). Records the indexer refused are in ` + "`dead_letters`" + `.

## Tables

| table | one row per | main columns |
|---|---|---|
| events | every event | event_id, time, time_us, event_type, session, seq, prev, hash, source_instance, data, record, kafka_* |
| sessions | session.started | session, issuer, subject, claim_keys/values, groups, human, client_addr, role, granted |
| session_ends | session.ended | session, reason, statements, blocked, duration_us, bytes_in/out |
| statements | query.executed, query.blocked | session, seq, stmt_index, sql (redacted), params (masked), kind, tables, columns, cardholder, outcome, sqlstate, row_count, masked_*, block_reason, approval_* |
| completions | query.completed | session, intent_seq (the statement's seq), outcome, sqlstate, command_tag, row_count, masked_*, sample |
| statement_outcomes (view) | statement, with its outcome | the columns of statements, outcome etc. from its completion, intent_outcome, completion_event_id, completed_us |
| statement_identities (view) | statement, with its outcome and identity | the columns of statement_outcomes, issuer, subject, human, groups, claim_keys/values, client_addr, application, target, session_role, repository, workflow, run_id, ref, sha |
| approval_decisions (view) | approval | approval_id, requested_at, session, requester_issuer, requester, statement, rule, hold_reason, outcome, decided_at, approver, approver_name, approver_email, approver_reason, latency_ms |
| statement_tables | (statement, table) pair | table_name, session, kind, cardholder, outcome (as recorded ahead), role |
| approvals | approval.requested/notified/decided/expired | approval_id, subject, sql, rule, decision, decided_by, latency_ms |
| auth_events | auth.succeeded, auth.failed | outcome, issuer, subject, client_addr, reason, sqlstate |
| credentials | credential.issued, credential.revoked | role, target, granted, valid_until_us, ttl_ms, reason |
| checkpoints | gateway.checkpoint | instance, run, checkpoint_number, from_us, to_us, head_*, key_id, signature |
| lifecycle | gateway.started/stopped, policy.loaded, retention.dropped, report.generated | source_instance, clock_*, policy_hash, partitions, report_kind |
| dead_letters | refused Kafka record | kafka_topic/partition/offset, stage, reason, value |

Monthly partitions older than the retention (at least 12 months, PCI DSS 10.5.1) are dropped by the indexer,
which records each drop as a ` + "`retention.dropped`" + ` event (query 14).

## Queries
`

// Markdown renders docs/auditors.md.
func Markdown(qs []Query) string {
	var b strings.Builder
	b.WriteString(intro)
	for i, q := range qs {
		fmt.Fprintf(&b, "\n### %d. %s\n\n", i+1, q.Title)
		fmt.Fprintf(&b, "PCI DSS %s. %s", q.PCI, q.Description)
		if len(q.Params) > 0 {
			fmt.Fprintf(&b, " Parameter: %s.", "`"+strings.Join(q.Params, "`, `")+"`")
		}
		fmt.Fprintf(&b, " (`indexer/cookbook/queries/%s.sql`)\n\n```sql\n%s\n```\n", q.Name, q.SQL)
	}
	return b.String()
}
