package query

import (
	"fmt"
	"strings"

	"github.com/pangate/pangate/internal/auditstore"
)

// Results of a requirement in a package's verdict table (docs/evidence.md "Verdicts").
const (
	ResultMet          = "met"           // the population shows the control operating, nothing to follow up
	ResultExceptions   = "exceptions"    // the population shows the control operating and rows to follow up
	ResultNotEvidenced = "not evidenced" // the package cannot show the control either way
)

// RowJudge is fed a population's rows as they are read (the rows the CSV gets, masked) and then says what
// they show for the population's requirements: the judge keeps counts and findings, never the rows, so a
// population of millions of rows is judged in the memory of one (issue 16).
type RowJudge interface {
	Row(row []string) // row is only read during the call
	Result() (result, why string)
}

// JudgeTable feeds every row of t to j and returns its result (small tables, tests).
func JudgeTable(j RowJudge, t *Table) (result, why string) {
	for _, r := range t.Rows {
		j.Row(r)
	}
	return j.Result()
}

// JudgeRows is the default rule: rows in the period show the logging control operating; an empty
// population shows nothing either way (no such event happened, or it was not logged).
func JudgeRows(cols []string) RowJudge { return &rowsJudge{} }

type rowsJudge struct{ n int }

func (j *rowsJudge) Row([]string) { j.n++ }

func (j *rowsJudge) Result() (string, string) {
	if j.n == 0 {
		return ResultNotEvidenced, "no rows in the period: either no such event happened or it was not logged; sample the system another way"
	}
	return ResultMet, fmt.Sprintf("%d row(s) recorded in the period", j.n)
}

// columnOf returns the index of the column name in cols, or -1.
func columnOf(cols []string, name string) int {
	for i, c := range cols {
		if c == name {
			return i
		}
	}
	return -1
}

// judgeClock: a gateway whose clock the OS did not report synchronised, or whose source is unknown, is an
// exception (PCI DSS 10.6.1: systems use synchronised time); the why names each with its raw record.
func judgeClock(cols []string) RowJudge {
	return &clockJudge{inst: columnOf(cols, "instance"), src: columnOf(cols, "clock_source"), synced: columnOf(cols, "clock_synced"), raw: columnOf(cols, "clock_detail")}
}

type clockJudge struct {
	inst, src, synced, raw int
	n                      int
	bad                    []string // one per gateway start with a bad clock (a few per period)
}

func (j *clockJudge) Row(r []string) {
	j.n++
	if r[j.synced] != "1" || r[j.src] == "" {
		j.bad = append(j.bad, fmt.Sprintf("%s: clock unsynchronised or unknown (source %q, record %s)", r[j.inst], r[j.src], r[j.raw]))
	}
}

func (j *clockJudge) Result() (string, string) {
	if j.n == 0 {
		return ResultNotEvidenced, "no gateway started in the period, so no clock was recorded; ask for the gateways' time-synchronisation settings"
	}
	if len(j.bad) > 0 {
		return ResultExceptions, strings.Join(j.bad, "; ")
	}
	return ResultMet, fmt.Sprintf("%d gateway start(s), every clock reported synchronised", j.n)
}

// Population is one CSV of an evidence package: the rows one requirement asks an assessor to sample from.
type Population struct {
	File        string // path inside the package
	Title       string
	Description string
	PCI         []string
	SOC2        []string
	ISO27001    []string
	SQL         string // template: {from} {to} {from_us} {to_us}
	// Judge makes the judge of the rows for the requirements above, given the result's columns (nil:
	// JudgeRows); it feeds the package's verdict table, so the verdict comes from the same rows the
	// assessor samples.
	Judge func(cols []string) RowJudge
	// Optional populations read tables the reporter user may be refused (system.query_log): an error
	// leaves the file empty with its verdict "not evidenced" and the error, instead of failing the build.
	Optional bool
}

// period filters a table on the period: the DateTime column for partition pruning, time_us for exact bounds.
const period = `time >= toDateTime({from}) AND time <= toDateTime({to}) AND time_us >= {from_us} AND time_us < {to_us}`

// identity joins a session's verified identity onto rows keyed by session (PCI DSS 10.2.2 "user id",
// linking JIT role → OIDC identity → workload).
const identity = `ANY LEFT JOIN
(
    SELECT session, issuer, subject,
           arrayStringConcat(arrayMap((k, v) -> concat(k, '=', v), claim_keys, claim_values), ';') AS workload,
           human, client_addr
    FROM sessions FINAL
) USING session`

// outcomeCols are the columns of a statement with its outcome, as the view statement_outcomes gives them
// (internal/auditstore/migrations/0002_outcomes.sql).
const outcomeCols = `event_id, time, time_us, session, seq, gateway_instance, event_type, stmt_index, sql, params, kind, tables,
           columns, cardholder, risk_tags, protocol, role,
           if(completion_event_id = '', s_outcome, c_outcome) AS outcome,
           if(completion_event_id = '', s_sqlstate, c_sqlstate) AS sqlstate,
           if(completion_event_id = '', s_error, c_error) AS error,
           if(completion_event_id = '', s_command_tag, c_command_tag) AS command_tag,
           if(completion_event_id = '', s_row_count, c_row_count) AS row_count,
           if(completion_event_id = '', s_duration_us, c_duration_us) AS duration_us,
           if(completion_event_id = '', s_mask_shape, c_mask_shape) AS mask_shape,
           if(completion_event_id = '', s_masked_columns, c_masked_columns) AS masked_columns,
           if(completion_event_id = '', s_masked_counts, c_masked_counts) AS masked_counts,
           if(completion_event_id = '', s_masked_total, c_masked_total) AS masked_total,
           rule, block_reason, approval_id, approval_decision, approval_by, s_outcome AS intent_outcome, completion_event_id`

// outcomes is the period's statements matching filter, each with its outcome: the statement_outcomes
// view's join written out with the period inside, so only the period's partitions are read (the view
// reads both tables whole). A statement recorded ahead (outcome forwarded) takes outcome, SQLSTATE,
// error, command tag, rows, duration and masked counts from its query.completed (same session, intent_seq
// = its seq; recorded after it, so from the period's start on); without one it stays forwarded (older
// gateways, or no outcome was recorded). docs/evidence.md "Statement outcomes".
func outcomes(filter string) string {
	return `(
    SELECT ` + outcomeCols + `
    FROM
    (
        SELECT event_id, time, time_us, session, seq, gateway_instance, event_type, stmt_index, sql, params, kind, tables, columns,
               cardholder, risk_tags, protocol, role, outcome AS s_outcome, sqlstate AS s_sqlstate, error AS s_error,
               command_tag AS s_command_tag, row_count AS s_row_count, duration_us AS s_duration_us, mask_shape AS s_mask_shape,
               masked_columns AS s_masked_columns, masked_counts AS s_masked_counts, masked_total AS s_masked_total, rule,
               block_reason, approval_id, approval_decision, approval_by
        FROM statements FINAL
        WHERE ` + period + ` AND (` + filter + `)
    )
    ANY LEFT JOIN
    (
        SELECT session, intent_seq AS seq, event_id AS completion_event_id, outcome AS c_outcome, sqlstate AS c_sqlstate,
               error AS c_error, command_tag AS c_command_tag, row_count AS c_row_count, duration_us AS c_duration_us,
               mask_shape AS c_mask_shape, masked_columns AS c_masked_columns, masked_counts AS c_masked_counts,
               masked_total AS c_masked_total
        FROM completions FINAL
        WHERE time >= toDateTime({from})
    ) USING session, seq
)`
}

// result says in words whether the statement ran (PCI DSS 10.2.2 "success or failure"): failures with
// their SQLSTATE, statements PostgreSQL never ran (skipped after an earlier failure of their batch, or
// blocked by pangate), and statements sent without a recorded outcome.
const result = `multiIf(outcome = 'ok', 'succeeded', outcome = 'streamed', 'succeeded (result streamed)',
       outcome = 'error', concat('failed, SQLSTATE ', sqlstate), outcome = 'skipped', 'not run (skipped: an earlier statement of its batch failed or the session ended)',
       outcome = 'blocked', 'not run (blocked)', outcome = 'forwarded', 'sent to the database, no outcome recorded', outcome) AS result`

// exportSQL is true for COPY … TO (rows leave the database as a file or stream).
const exportSQL = `has(risk_tags, 'copy_out')`

// unmaskedSQL is the cardholder_unmasked rule: a statement on cardholder data that ran and returned rows,
// where a column the gateway masked has fewer masked values than rows (a card number it did not recognise,
// or a NULL), or an export of tagged columns in which nothing was masked. A read in which nothing was
// masked returned no card number (a lookup by a masked parameter, WHERE pan = $1, returning other
// columns) and is not an exception (issue 15.6).
const unmaskedSQL = `cardholder = 1 AND outcome = 'ok' AND row_count > 0
      AND (arrayExists(n -> n < row_count, masked_counts) OR (` + exportSQL + ` AND masked_total = 0))`

// decisions is one row per approval: the requester (the held statement's session and identity, from
// approval.requested) and the first decision (approval.decided or approval.expired: the one that applied),
// with the approver and the approver's reason.
const decisions = `(
    SELECT approval_id,
           anyIf(session, event_type = 'approval.requested') AS held_session,
           anyIf(subject, event_type = 'approval.requested') AS requester_subject,
           anyIf(issuer, event_type = 'approval.requested') AS requester_issuer,
           anyIf(sql, event_type = 'approval.requested') AS held_sql,
           argMinIf(event_id, time_us, event_type IN ('approval.decided', 'approval.expired')) AS decision_event_id,
           minIf(time_us, event_type IN ('approval.decided', 'approval.expired')) AS decided_at,
           argMinIf(decision, time_us, event_type IN ('approval.decided', 'approval.expired')) AS decision,
           argMinIf(decided_by, time_us, event_type IN ('approval.decided', 'approval.expired')) AS approver,
           argMinIf(decided_by_email, time_us, event_type IN ('approval.decided', 'approval.expired')) AS approver_email,
           argMinIf(reason, time_us, event_type IN ('approval.decided', 'approval.expired')) AS decision_reason,
           argMinIf(source_instance, time_us, event_type IN ('approval.decided', 'approval.expired')) AS approver_instance
    FROM approvals FINAL
    WHERE time >= toDateTime({from})
    GROUP BY approval_id
)`

// refusal is the detail of a refused approval: who refused it, their reason, and the statement (sqlCol).
func refusal(sqlCol string) string {
	return `concat('approval ', approval_id, ' ', decision,
                  if(approver != '', concat(' by ', approver, if(approver_email != '', concat(' <', approver_email, '>'), '')), ''),
                  if(decision_reason != '', concat(': ', decision_reason), ''), '; statement: ', ` + sqlCol + `)`
}

// blockedWithDecision is the period's blocked statements, each with the decision of its approval when a
// refused approval blocked it (decision ” otherwise), and the session's identity (the requester).
const blockedWithDecision = `(
        SELECT *
        FROM
        (
            SELECT time_us, session, event_id, gateway_instance, block_reason, sql, sqlstate, approval_id
            FROM statements FINAL
            WHERE ` + period + ` AND outcome = 'blocked'
        )
        ANY LEFT JOIN ` + decisions + ` USING approval_id
    )
    ` + identity

// refusedWithoutStatement is the refused (denied, expired) approvals decided in the period whose held
// statement is not among the period's blocked statements (the client left before the decision, or the
// statement's record is missing): each exception is listed once, by its blocked statement when there is one.
const refusedWithoutStatement = decisions + `
    WHERE decided_at >= {from_us} AND decided_at < {to_us} AND decision IN ('denied', 'expired')
      AND approval_id NOT IN (SELECT approval_id FROM statements FINAL WHERE ` + period + ` AND outcome = 'blocked' AND approval_id != '')`

// Populations lists every population in the order of docs/pci.md.
var Populations = []Population{
	{
		File: "populations/10.2.1.1-cardholder-data-access.csv", Title: "Access to cardholder data",
		Description: "Every statement that touched a table or column tagged as cardholder data, reads included, with the JIT role, the OIDC identity and workload behind it.",
		PCI:         []string{"10.2.1.1", "10.2.2", "8.2.2", "3.4.1"}, SOC2: []string{"CC6.1", "CC7.2"}, ISO27001: []string{"A.8.15", "A.8.11"},
		SQL: `SELECT time_us AS ts, session, event_id, gateway_instance AS gateway, issuer, subject, workload, human, client_addr,
       role AS jit_role, kind, tables, columns, sql, params, outcome, sqlstate, ` + result + `, command_tag, row_count AS rows,
       masked_total, arrayStringConcat(arrayMap((c, n) -> concat(c, '=', toString(n)), masked_columns, masked_counts), ';') AS masked,
       mask_shape, approval_id, completion_event_id
FROM ` + outcomes("cardholder = 1") + `
` + identity + `
ORDER BY ts, event_id`,
	},
	{
		File: "populations/10.2.1.2-admin-actions.csv", Title: "Administrative actions and interactive use of workload accounts",
		Description: "Role, grant and settings statements, and every statement of a session whose identity is a person using a workload account.",
		PCI:         []string{"10.2.1.2", "10.2.2", "8.6.1"}, SOC2: []string{"CC6.2", "CC6.3"}, ISO27001: []string{"A.8.2", "A.8.15"},
		SQL: `SELECT time_us AS ts, session, event_id, gateway_instance AS gateway, issuer, subject, workload, human, client_addr,
       role AS jit_role, kind, sql, params, outcome, sqlstate, ` + result + `, command_tag, row_count AS rows,
       multiIf(kind IN ('role', 'utility') AND human = 1, 'admin_statement+human_session', kind IN ('role', 'utility'), 'admin_statement', 'human_session') AS why
FROM ` + outcomes("1") + `
` + identity + `
WHERE kind IN ('role', 'utility') OR human = 1
ORDER BY ts, event_id`,
	},
	{
		File: "populations/10.2.1.3-audit-log-access.csv", Title: "Access to the audit logs",
		Description: "Every run of the reporter (it reads the audit store): kind, period read, where the output went, its manifest hash.",
		PCI:         []string{"10.2.1.3"}, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.15"},
		SQL: `SELECT time_us AS ts, event_id, source_instance AS reporter, report_kind, report_from_us AS period_from_at, report_to_us AS period_to_at,
       location, manifest_hash, report_events
FROM lifecycle FINAL
WHERE ` + period + ` AND event_type = 'report.generated'
ORDER BY ts, event_id`,
	},
	{
		File: "populations/10.2.1.3-audit-store-queries.csv", Title: "Direct SQL access to the audit store",
		Description: "Every query ClickHouse logged (its query log, as pangate_access.queries shows it with literals masked) by the auditor and reporter users or naming the audit database: when, user, client address, query kind, masked text, rows, error code.",
		PCI:         []string{"10.2.1.3", "10.3.1"}, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.15"},
		SQL: AuditStoreQueriesSQL, Optional: true,
	},
	{
		File: "populations/10.2.1.4-invalid-access-attempts.csv", Title: "Invalid logical access attempts",
		Description: "Failed logins (bad, expired or foreign tokens), statements blocked by policy or by a refused approval, and denied or expired approvals.",
		PCI:         []string{"10.2.1.4", "10.2.2"}, SOC2: []string{"CC6.1", "CC7.2", "CC7.3"}, ISO27001: []string{"A.8.15", "A.8.16"},
		SQL: `SELECT * FROM
(
    SELECT time_us AS ts, 'auth_failed' AS category, session, event_id, gateway_instance AS gateway, issuer, subject,
           client_addr, reason, message AS detail, sqlstate
    FROM auth_events FINAL
    WHERE ` + period + ` AND outcome = 'failed'
    UNION ALL
    SELECT time_us AS ts, if(decision != '', concat('approval_', decision), 'statement_blocked') AS category, session, event_id,
           gateway_instance AS gateway, issuer, subject, client_addr, block_reason AS reason,
           if(decision != '', ` + refusal("sql") + `, sql) AS detail, sqlstate
    FROM ` + blockedWithDecision + `
    UNION ALL
    SELECT decided_at AS ts, concat('approval_', decision) AS category, held_session AS session, decision_event_id AS event_id,
           approver_instance AS gateway, requester_issuer AS issuer, requester_subject AS subject, '' AS client_addr,
           concat('approval_', decision) AS reason, ` + refusal("held_sql") + ` AS detail, '' AS sqlstate
    FROM ` + refusedWithoutStatement + `
)
ORDER BY ts, event_id`,
	},
	{
		File: "populations/10.2.1.5-credential-changes.csv", Title: "Changes to credentials and privileges",
		Description: "Every just-in-time role issued and revoked (grants, VALID UNTIL), and every GRANT / ALTER ROLE / CREATE ROLE statement.",
		PCI:         []string{"10.2.1.5", "8.6.3"}, SOC2: []string{"CC6.2", "CC6.3"}, ISO27001: []string{"A.8.2", "A.8.15"},
		SQL: `SELECT * FROM
(
    SELECT time_us AS ts, event_type, session, event_id, gateway_instance AS gateway, role, arrayStringConcat(granted, ';') AS granted_roles,
           valid_until_us AS valid_until_at, ttl_ms, reason, error, '' AS sql
    FROM credentials FINAL
    WHERE ` + period + `
    UNION ALL
    SELECT time_us AS ts, 'statement.role' AS event_type, session, event_id, gateway_instance AS gateway, role, '' AS granted_roles,
           toUInt64(0) AS valid_until_at, toInt64(0) AS ttl_ms, if(outcome = 'error', concat('error ', sqlstate), outcome) AS reason, error, sql
    FROM ` + outcomes("kind = 'role'") + `
)
ORDER BY ts, event_id`,
	},
	{
		File: "populations/10.2.1.6-audit-log-start-stop.csv", Title: "Start, stop and pause of audit logging",
		Description: "Gateway starts and stops, policy loads and retention drops; gaps between checkpoints are in 10.7-logging-gaps.csv.",
		PCI:         []string{"10.2.1.6", "10.5.1"}, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.15", "A.8.16"},
		SQL: `SELECT time_us AS ts, event_type, source_instance AS instance, source_version AS version, session AS run, listen, reason,
       sessions_served, uptime_ms, checkpoint_interval_ms, key_id, policy_hash, table_name, arrayStringConcat(partitions, ';') AS dropped_partitions
FROM lifecycle FINAL
WHERE ` + period + ` AND event_type IN ('gateway.started', 'gateway.stopped', 'policy.loaded', 'retention.dropped')
ORDER BY ts, event_id`,
	},
	{
		File: "populations/10.2.1.7-object-changes.csv", Title: "Creation and deletion of system-level objects",
		Description: "Every DDL statement (CREATE, DROP, ALTER of tables, functions, procedures), with its outcome and approval.",
		PCI:         []string{"10.2.1.7", "6.5.1"}, SOC2: []string{"CC8.1"}, ISO27001: []string{"A.8.15"},
		SQL: `SELECT time_us AS ts, session, event_id, gateway_instance AS gateway, issuer, subject, role AS jit_role, sql, tables, outcome,
       sqlstate, ` + result + `, command_tag, error, block_reason, approval_id, approval_decision, approval_by
FROM ` + outcomes("kind = 'ddl'") + `
` + identity + `
ORDER BY ts, event_id`,
	},
	{
		File: "populations/8.6.1-approvals.csv", Title: "Approvals of held statements",
		Description: "One row per approval requested in the period: requester, statement, rule, the first decision (the one that applied), approver, reason, latency.",
		PCI:         []string{"8.6.1", "6.5.1", "10.2.1.2"}, SOC2: []string{"CC6.3", "CC8.1"}, ISO27001: []string{"A.8.2"},
		SQL: `SELECT approval_id, requested_at, held_session, requester_issuer, requester_subject, jit_role, held_sql, statement_kind,
       held_tables, hold_rule, hold_reason, expires_at, decision_outcome, approver, approver_name, approver_email, decision_reason,
       decision_latency_ms, decided_at
FROM
(
    SELECT approval_id,
           minIf(time_us, event_type = 'approval.requested') AS requested_at,
           anyIf(session, event_type = 'approval.requested') AS held_session,
           anyIf(issuer, event_type = 'approval.requested') AS requester_issuer,
           anyIf(subject, event_type = 'approval.requested') AS requester_subject,
           anyIf(role, event_type = 'approval.requested') AS jit_role,
           anyIf(sql, event_type = 'approval.requested') AS held_sql,
           anyIf(statement_kind, event_type = 'approval.requested') AS statement_kind,
           arrayStringConcat(anyIf(tables, event_type = 'approval.requested'), ';') AS held_tables,
           anyIf(rule, event_type = 'approval.requested') AS hold_rule,
           anyIf(reason, event_type = 'approval.requested') AS hold_reason,
           maxIf(expires_us, event_type = 'approval.requested') AS expires_at,
           argMinIf(decision, time_us, event_type IN ('approval.decided', 'approval.expired')) AS decision_outcome,
           argMinIf(decided_by, time_us, event_type IN ('approval.decided', 'approval.expired')) AS approver,
           argMinIf(decided_by_name, time_us, event_type IN ('approval.decided', 'approval.expired')) AS approver_name,
           argMinIf(decided_by_email, time_us, event_type IN ('approval.decided', 'approval.expired')) AS approver_email,
           argMinIf(reason, time_us, event_type IN ('approval.decided', 'approval.expired')) AS decision_reason,
           argMinIf(latency_ms, time_us, event_type IN ('approval.decided', 'approval.expired')) AS decision_latency_ms,
           minIf(time_us, event_type IN ('approval.decided', 'approval.expired')) AS decided_at
    FROM approvals FINAL
    WHERE time >= toDateTime({from})
    GROUP BY approval_id
)
WHERE requested_at >= {from_us} AND requested_at < {to_us}
ORDER BY requested_at, approval_id`,
	},
	{
		File: "populations/7.2.4-granted-vs-used.csv", Title: "Granted versus used, per identity",
		Description: "Per OIDC identity: the roles its sessions were granted, the JIT roles it ran as, and the tables it actually touched, for the periodic review of accounts and privileges.",
		PCI:         []string{"7.2.4", "7.2.5.1"}, SOC2: []string{"CC6.2", "CC6.3"}, ISO27001: []string{"A.8.2"},
		SQL: `SELECT issuer, subject, count() AS sessions, max(human) AS human,
       arrayStringConcat(arraySort(groupUniqArrayArray(granted)), ';') AS granted_roles,
       arrayStringConcat(arraySort(groupUniqArrayArray(touched)), ';') AS tables_touched,
       sum(n_statements) AS statements, sum(n_cardholder) AS cardholder_statements, sum(n_blocked) AS blocked_statements,
       max(last_us) AS last_statement_at
FROM sessions FINAL
ANY LEFT JOIN
(
    SELECT session, count() AS n_statements, sum(cardholder) AS n_cardholder, countIf(outcome = 'blocked') AS n_blocked,
           groupUniqArrayArray(tables) AS touched, max(time_us) AS last_us
    FROM statements FINAL
    WHERE ` + period + `
    GROUP BY session
) USING session
WHERE ` + period + `
GROUP BY issuer, subject
ORDER BY issuer, subject`,
	},
	{
		File: "populations/8.6.3-credential-lifetimes.csv", Title: "Credential lifetimes",
		Description: "Every JIT role issued in the period: when, for which session, its VALID UNTIL, when and why it was revoked, and how long it lived.",
		PCI:         []string{"8.6.3", "8.6.2", "10.2.1.5"}, SOC2: []string{"CC6.1", "CC6.2"}, ISO27001: []string{"A.8.2"},
		SQL: `SELECT role, issued_at, for_session, gateway, ttl_ms, valid_until_at, revoked_at, revoke_reason, revoke_error,
       if(revoked_at > 0, intDiv(revoked_at - issued_at, 1000), 0) AS lifetime_ms
FROM
(
    SELECT role,
           minIf(time_us, event_type = 'credential.issued') AS issued_at,
           anyIf(for_session, event_type = 'credential.issued') AS for_session,
           any(gateway_instance) AS gateway,
           anyIf(ttl_ms, event_type = 'credential.issued') AS ttl_ms,
           maxIf(valid_until_us, event_type = 'credential.issued') AS valid_until_at,
           minIf(time_us, event_type = 'credential.revoked') AS revoked_at,
           anyIf(reason, event_type = 'credential.revoked') AS revoke_reason,
           anyIf(error, event_type = 'credential.revoked') AS revoke_error
    FROM credentials FINAL
    WHERE time >= toDateTime({from})
    GROUP BY role
)
WHERE issued_at >= {from_us} AND issued_at < {to_us}
ORDER BY issued_at, role`,
	},
	{
		File: "populations/10.6-clock.csv", Title: "Time synchronisation of the gateways",
		Description: "Each gateway start with its clock source, whether the OS reported it synchronised, the measured offset and the raw clock record (how it was measured).",
		PCI:         []string{"10.6", "10.6.1", "10.6.3"}, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.17"},
		SQL: `SELECT time_us AS ts, source_instance AS instance, source_version AS version, session AS run, clock_source, clock_synced,
       clock_offset_us, clock_detail, checkpoint_interval_ms, key_id, mask_shape, config_hash, policy_hash
FROM lifecycle FINAL
ANY LEFT JOIN
(
    SELECT event_id, visitParamExtractRaw(data, 'clock') AS clock_detail
    FROM events
    WHERE ` + period + ` AND event_type = 'gateway.started'
) USING event_id
WHERE ` + period + ` AND event_type = 'gateway.started'
ORDER BY ts, event_id`,
		Judge: judgeClock,
	},
	{
		File: "populations/sessions.csv", Title: "Sessions and attribution",
		Description: "Every session started in the period: who (issuer, subject, workload claims), from where, JIT role and grants, how it ended.",
		PCI:         []string{"8.2.2", "10.2.2", "8.3.2"}, SOC2: []string{"CC6.1"}, ISO27001: []string{"A.8.15", "A.8.2"},
		SQL: `SELECT time_us AS ts, session, event_id, gateway_instance AS gateway, issuer, subject,
       arrayStringConcat(arrayMap((k, v) -> concat(k, '=', v), claim_keys, claim_values), ';') AS workload, groups, human,
       client_addr, client_tls, application, target, target_database, role AS jit_role, granted, mask_shape,
       end_reason, end_statements, end_blocked, end_duration_us
FROM sessions FINAL
ANY LEFT JOIN
(
    SELECT session, reason AS end_reason, statements AS end_statements, blocked AS end_blocked, duration_us AS end_duration_us
    FROM session_ends FINAL
) USING session
WHERE ` + period + `
ORDER BY ts, event_id`,
	},
	{
		File: StepsFile, Title: "Statements per reasoning step",
		Description: "Why each statement was sent, per step of the workload's own reasoning: for every run, session, step, branch and thought its sqlcommenter comments named (docs/context.md), the statements, those on cardholder data with their rows, masked values and tables, blocked and failed statements, and the approvals they needed with their decisions.",
		PCI:         []string{"10.2.2", "10.2.1.1"}, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.15"},
		SQL: StepsSQL, Judge: judgeSteps,
	},
}

// StepsFile is the per-step view of a package (issue 19): the summary shows it as a table too.
const StepsFile = "populations/10.2.2-reasoning-steps.csv"

// StepsSQL groups the period's statements by the reasoning step their workload named in its
// sqlcommenter comment (statement.context in the event's own JSON, events.data; docs/context.md): step,
// branch, thought, purpose, ticket and the trace id of the W3C traceparent, beside the session's identity
// and the CI run id of its token. Statements without step, branch, thought or traceparent are left out.
// ClickHouse 18.16: one JOIN per SELECT, so identity and context are joined at two levels.
var StepsSQL = `SELECT run, session, subject, step, branch, thought, purpose, ticket, trace_id,
       count() AS statements,
       countIf(cardholder = 1) AS cardholder_statements,
       sumIf(row_count, cardholder = 1 AND outcome = 'ok') AS cardholder_rows,
       sum(masked_total) AS masked_values,
       arrayStringConcat(arraySort(groupUniqArrayArrayIf(tables, cardholder = 1)), ';') AS cardholder_tables,
       countIf(outcome = 'blocked') AS blocked,
       countIf(outcome = 'error') AS failed,
       uniqExactIf(approval_id, approval_id != '') AS approvals,
       arrayStringConcat(arraySort(groupUniqArrayIf(concat(approval_id, ' ', if(approval_decision != '', approval_decision, 'pending')), approval_id != '')), ';') AS approval_decisions,
       min(time_us) AS first_at, max(time_us) AS last_at
FROM
(
    SELECT session, subject, run, time_us, cardholder, row_count, masked_total, tables, outcome, approval_id, approval_decision,
           step, branch, thought, purpose, ticket, trace_id
    FROM
    (
        SELECT event_id, session, subject, run, time_us, cardholder, row_count, masked_total, tables, outcome, approval_id, approval_decision
        FROM ` + outcomes("1") + `
        ANY LEFT JOIN
        (
            SELECT session, subject, claim_values[indexOf(claim_keys, 'run_id')] AS run
            FROM sessions FINAL
        ) USING session
    )
    ANY INNER JOIN
    (
        -- Only events that carry a context, and only the extracted fields: the join's hash table holds
        -- a few short strings per statement with a context, never the events' JSON (a 10M-event month).
        SELECT event_id,
               visitParamExtractString(data, 'step') AS step,
               visitParamExtractString(data, 'branch') AS branch,
               visitParamExtractString(data, 'thought') AS thought,
               visitParamExtractString(data, 'purpose') AS purpose,
               visitParamExtractString(data, 'ticket') AS ticket,
               splitByChar('-', visitParamExtractString(data, 'traceparent'))[2] AS trace_id
        FROM events FINAL
        WHERE ` + period + ` AND event_type IN ('query.executed', 'query.blocked') AND position(data, '"context"') > 0
    ) USING event_id
)
WHERE step != '' OR branch != '' OR thought != '' OR trace_id != ''
GROUP BY run, session, subject, step, branch, thought, purpose, ticket, trace_id
ORDER BY first_at, session, step`

// judgeSteps: the per-step view explains statements; it has no exception of its own (blocked statements,
// refused approvals and unmasked results are in exceptions.csv). Empty means no workload named its steps.
func judgeSteps(cols []string) RowJudge {
	return &stepsJudge{chd: columnOf(cols, "cardholder_statements")}
}

type stepsJudge struct{ chd, n, cardholder int }

func (j *stepsJudge) Row(r []string) {
	j.n++
	if r[j.chd] != "0" {
		j.cardholder++
	}
}

func (j *stepsJudge) Result() (string, string) {
	if j.n == 0 {
		return ResultNotEvidenced, "no statement in the period named a reasoning step (step, branch, thought or traceparent in a sqlcommenter comment, docs/context.md): the why of each statement is only its session's identity and claims"
	}
	return ResultMet, fmt.Sprintf("%d reasoning step(s) named by their statements, %d of them touched cardholder data", j.n, j.cardholder)
}

// AuditStoreQueriesSQL reads ClickHouse's query log for the period as auditors and the reporter may see
// it: pangate_access.queries, a copy of the server's query log with literals, numbers and comments replaced
// by ? (internal/auditstore/access/query_log.sql; the log itself is the operator's alone, docs/deploy.md).
// It lists every finished or failed query by the users that exist to read the audit store (auditor,
// reporter) and every query of any user naming the audit database, with time, user, client, kind, rows and
// the masked text (capped at 2000 characters; the reporter re-masks card numbers in it, column sql).
const AuditStoreQueriesSQL = `SELECT toUInt64(toUnixTimestamp(event_time)) * 1000000 AS ts, user, initial_user, address AS client_addr, client_name,
       query_kind, multiIf(type = 2, 'finished', type = 3, 'refused before start', type = 4, 'failed', toString(type)) AS result,
       exception_code, substring(query_masked, 1, 2000) AS sql, result_rows, read_rows, written_rows, duration_ms, query_id
FROM ` + auditstore.QueryLogAccessTable + `
WHERE event_date >= toDate(toDateTime({from})) AND event_date <= toDate(toDateTime({to}))
  AND event_time >= toDateTime({from}) AND event_time < toDateTime({to})
  AND type IN (2, 3, 4)
  AND (user IN ('auditor', 'reporter') OR positionCaseInsensitive(query_masked, currentDatabase()) > 0)
ORDER BY ts, query_id`

// ExceptionsSQL lists the period's exceptions for the daily review (PCI DSS 10.4.1), one row each: failed
// logins, blocked statements (a statement blocked by a denied or expired approval is one approval_<decision>
// row with the requester as subject and the approver and their reason in the detail; a refused approval
// without a blocked statement gets its own row), gateways started with an unsynchronised or unknown clock
// (PCI DSS 10.6), cardholder results with fewer masked values than rows
// (unmaskedSQL: exports included, with the completion's rows and masked counts), and sessions of people
// using workload accounts. Integrity failures are added from the integrity check.
var ExceptionsSQL = `SELECT * FROM
(
    SELECT time_us AS ts, 'auth_failed' AS category, session, event_id, gateway_instance AS gateway, subject,
           concat(reason, ': ', message) AS detail
    FROM auth_events FINAL
    WHERE ` + period + ` AND outcome = 'failed'
    UNION ALL
    SELECT time_us AS ts, if(decision != '', concat('approval_', decision), concat('blocked:', block_reason)) AS category, session, event_id,
           gateway_instance AS gateway, subject, if(decision != '', ` + refusal("sql") + `, sql) AS detail
    FROM ` + blockedWithDecision + `
    UNION ALL
    SELECT decided_at AS ts, concat('approval_', decision) AS category, held_session AS session, decision_event_id AS event_id,
           approver_instance AS gateway, requester_subject AS subject, ` + refusal("held_sql") + ` AS detail
    FROM ` + refusedWithoutStatement + `
    UNION ALL
    SELECT time_us AS ts, 'cardholder_unmasked' AS category, session, event_id, gateway_instance AS gateway, subject,
           concat(if(` + exportSQL + `, 'export ', ''), sql, ': ', toString(row_count), ' rows, masked ',
                  if(masked_total = 0, 'none', arrayStringConcat(arrayMap((c, n) -> concat(c, '=', toString(n)), masked_columns, masked_counts), ', '))) AS detail
    FROM ` + outcomes("cardholder = 1") + `
    ` + identity + `
    WHERE ` + unmaskedSQL + `
    UNION ALL
    SELECT time_us AS ts, 'clock_unsynchronised' AS category, '' AS session, event_id, source_instance AS gateway, '' AS subject,
           concat('gateway run ', session, ' started with its clock unsynchronised or unknown: source ', if(clock_source = '', '(none)', clock_source),
                  ', offset ', toString(clock_offset_us), ' us, record ', clock_detail) AS detail
    FROM lifecycle FINAL
    ANY LEFT JOIN
    (
        SELECT event_id, visitParamExtractRaw(data, 'clock') AS clock_detail
        FROM events
        WHERE ` + period + ` AND event_type = 'gateway.started'
    ) USING event_id
    WHERE ` + period + ` AND event_type = 'gateway.started' AND (clock_synced = 0 OR clock_source = '')
    UNION ALL
    SELECT time_us AS ts, 'human_session' AS category, session, event_id, gateway_instance AS gateway, subject,
           concat('person using workload account from ', client_addr, ' as ', role) AS detail
    FROM sessions FINAL
    WHERE ` + period + ` AND human = 1
)
ORDER BY ts, event_id`
