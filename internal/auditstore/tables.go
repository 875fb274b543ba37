package auditstore

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
)

// Table is an audit-store table: its name and the columns the indexer inserts, in the order of the values
// of its rows (indexer/rows builds them). Names and columns are those of migrations/; TestTablesMatchMigrations
// checks them against the DDL, so a migration and this list cannot drift apart.
type Table struct {
	Name    string
	Columns []string
}

// The tables the indexer writes and the reporter reads. Their columns are listed in the order of the values
// of their rows.
var (
	Events = Table{"events", []string{"event_id", "time", "time_us", "envelope_version", "event_type", "session", "seq",
		"prev", "hash", "source_instance", "source_version", "data", "record", "kafka_topic", "kafka_partition",
		"kafka_offset", "kafka_key", "kafka_time_us", "ingested_us"}}
	Sessions = Table{"sessions", []string{"event_id", "time", "time_us", "session", "seq", "gateway_instance",
		"issuer", "subject", "claim_keys", "claim_values", "groups", "human", "client_addr", "client_tls",
		"application", "target", "target_database", "requested_role", "role", "granted", "mask_shape", "policy_hash"}}
	SessionEnds = Table{"session_ends", []string{"event_id", "time", "time_us", "session", "seq", "gateway_instance",
		"reason", "statements", "blocked", "duration_us", "bytes_in", "bytes_out"}}
	Statements = Table{"statements", []string{"event_id", "time", "time_us", "session", "seq", "gateway_instance",
		"event_type", "stmt_index", "sql", "fingerprint", "params", "kind", "tables", "columns", "cardholder",
		"risk_tags", "risk_score", "protocol", "role", "outcome", "sqlstate", "error", "command_tag", "row_count",
		"duration_us", "mask_shape", "masked_columns", "masked_counts", "masked_total", "sample", "rule",
		"block_reason", "approval_id", "approval_decision", "approval_by"}}
	// Completions holds query.completed: the outcome of a statement recorded ahead, linked to its
	// query.executed by (session, intent_seq); the view statement_outcomes joins the two
	// (migrations/0002_outcomes.sql).
	Completions = Table{"completions", []string{"event_id", "time", "time_us", "session", "seq", "gateway_instance",
		"intent_seq", "stmt_index", "kind", "outcome", "sqlstate", "error", "command_tag", "row_count", "duration_us",
		"mask_shape", "masked_columns", "masked_counts", "masked_total", "sample"}}
	StatementTables = Table{"statement_tables", []string{"event_id", "time", "time_us", "session", "table_name",
		"kind", "cardholder", "outcome", "role"}}
	Approvals = Table{"approvals", []string{"event_id", "time", "time_us", "kafka_topic", "event_type", "approval_id",
		"session", "source_instance", "issuer", "subject", "target", "role", "sql", "fingerprint", "statement_kind",
		"tables", "rule", "reason", "approver_group", "expires_us", "decision", "decided_by", "decided_by_name",
		"decided_by_email", "latency_ms", "channel", "message_ts"}}
	AuthEvents = Table{"auth_events", []string{"event_id", "time", "time_us", "session", "gateway_instance",
		"event_type", "outcome", "issuer", "subject", "claim_keys", "claim_values", "groups", "human", "client_addr",
		"client_tls", "application", "target", "target_database", "startup_user", "requested_role", "token_id",
		"token_expiry_us", "reason", "message", "sqlstate"}}
	Credentials = Table{"credentials", []string{"event_id", "time", "time_us", "session", "gateway_instance",
		"event_type", "role", "target", "granted", "valid_until_us", "ttl_ms", "for_session", "reason",
		"issued_at_us", "error"}}
	Checkpoints = Table{"checkpoints", []string{"event_id", "time", "time_us", "session", "seq", "instance", "run",
		"checkpoint_number", "prev_checkpoint", "from_us", "to_us", "interval_ms", "head_sessions", "head_seqs",
		"head_hashes", "head_ended", "key_id", "signature", "data"}}
	Lifecycle = Table{"lifecycle", []string{"event_id", "time", "time_us", "session", "seq", "source_instance",
		"source_version", "event_type", "listen", "targets", "config_hash", "policy_hash", "mask_shape",
		"checkpoint_interval_ms", "key_id", "clock_source", "clock_synced", "clock_offset_us", "reason",
		"sessions_served", "uptime_ms", "policy_source", "policy_rules", "table_name", "partitions", "keep_months",
		"report_kind", "report_from_us", "report_to_us", "location", "manifest_hash", "report_events"}}
	DeadLetters = Table{"dead_letters", []string{"kafka_time", "kafka_time_us", "kafka_topic", "kafka_partition",
		"kafka_offset", "kafka_key", "value", "stage", "reason", "event_id", "event_type", "ingested_us"}}
)

// All lists every table the indexer writes, in insert order. Events comes last: once a batch's rows are
// in events, its typed rows are in their tables too, so "the event is in events" means "fully indexed".
var All = []*Table{&Sessions, &SessionEnds, &Statements, &Completions, &StatementTables, &Approvals, &AuthEvents,
	&Credentials, &Checkpoints, &Lifecycle, &DeadLetters, &Events}

// Partitioned lists the tables partitioned by month, which retention prunes.
var Partitioned = All

// Reported lists the tables the reporter reads; it refuses a database that lacks one of them. Completions
// arrived with schema version 2 (statement outcomes).
var Reported = []*Table{&Events, &Statements, &Completions, &Sessions, &Approvals, &AuthEvents, &Credentials,
	&Checkpoints, &Lifecycle}

// Names returns the names of tables, in order.
func Names(tables []*Table) []string {
	out := make([]string, len(tables))
	for i, t := range tables {
		out[i] = t.Name
	}
	return out
}

// DDLColumn is a column of an audit table as the migrations declare it: its name and ClickHouse type.
type DDLColumn struct{ Name, Type string }

var (
	createTable = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS (\w+)`)
	ddlColumn   = regexp.MustCompile(`^\s+(\w+)\s+([A-Za-z0-9]+(?:\([^)]*\))?),?\s*(--.*)?$`)
)

// MigratedColumns reads the columns of every table the embedded migrations create, in declaration order
// (all versions: a table added by a later migration counts too). It reads the text the way the migrations
// are written (one column per line, the ENGINE line closing the list), which is what the indexer's row
// builders and TestTablesMatchMigrations check the Go lists against.
func MigratedColumns() (map[string][]DDLColumn, error) {
	files, err := fs.Glob(Migrations, "migrations/*.sql")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("auditstore: no migrations embedded (%v): build from the repository with migrations/*.sql present", err)
	}
	out := map[string][]DDLColumn{}
	for _, f := range files {
		b, err := Migrations.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("auditstore: read %s: %w", f, err)
		}
		var cur string
		for _, line := range strings.Split(string(b), "\n") {
			if m := createTable.FindStringSubmatch(line); m != nil {
				cur = m[1]
				continue
			}
			if strings.HasPrefix(line, "ENGINE") {
				cur = ""
				continue
			}
			if m := ddlColumn.FindStringSubmatch(line); m != nil && cur != "" {
				out[cur] = append(out[cur], DDLColumn{m[1], m[2]})
			}
		}
	}
	return out, nil
}
