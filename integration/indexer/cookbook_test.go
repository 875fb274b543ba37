package indexer_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/indexer/cookbook"
	"github.com/pangate/pangate/schemas"
)

const hex64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// scenario is a small, fully known audit history: two workloads, one human session, a blocked statement,
// approvals (one approved, one expired), auth failures, JIT credentials (one outliving its TTL), a gateway
// run with a missing checkpoint, a session with a gap in its chain, retention and report events.
type scenario struct {
	base   time.Time // yesterday 10:00 UTC
	audit  []schemas.Event
	approv []schemas.Event
	s1, s2 string // session ids
	s3     string // session with a missing event
	run    string // gateway run (its checkpoint 3 is missing)
	// exportDone is the query.completed of S1's export, produced twice (a replay the store must collapse).
	exportDone schemas.Event
}

func buildScenario(t *testing.T) *scenario {
	now := time.Now().UTC()
	y := now.AddDate(0, 0, -1)
	sc := &scenario{base: time.Date(y.Year(), y.Month(), y.Day(), 10, 0, 0, 0, time.UTC)}
	at := func(sec int) func() time.Time {
		return func() time.Time { return sc.base.Add(time.Duration(sec) * time.Second) }
	}
	chain := func(session string) *schemas.Chain { return schemas.NewChain(session, src) }
	emit := func(c *schemas.Chain, sec int, typ string, d any) schemas.Event {
		t.Helper()
		c.Now = at(sec)
		e, err := c.Next(typ, d)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	tt := func(sec int) string { return schemas.FormatTime(at(sec)()) }
	alice := schemas.Identity{Issuer: "https://issuer.test", Subject: "repo:acme/etl", Claims: map[string]string{"repository": "acme/etl", "run_id": "4242", "sha": "c0ffee"}}
	bob := schemas.Identity{Issuer: "https://issuer.test", Subject: "repo:acme/report", Human: true}
	client := schemas.Client{Addr: "10.1.1.1:5000", TLS: true}
	stmt := func(i int64, kind, sql string, card bool, tables ...string) schemas.Statement {
		return schemas.Statement{SQL: sql, Fingerprint: fmt.Sprintf("fp%d", i), Kind: kind, Tables: tables,
			Cardholder: card, Protocol: "simple", Index: i}
	}

	// Gateway run with checkpoints 0, 1, 2, 4 (3 missing).
	run := schemas.NewID()
	sc.run = run
	g := chain(run)
	sc.audit = append(sc.audit,
		emit(g, 0, schemas.TypeGatewayStarted, schemas.GatewayStarted{Instance: "gw-1", Version: "1", Listen: ":6432",
			MaskShape: "first6last4", CheckpointIntervalMS: 60000, KeyID: "k", Clock: schemas.Clock{Source: "chrony", Synced: true, OffsetUS: 120}}),
		emit(g, 1, schemas.TypePolicyLoaded, schemas.PolicyLoaded{Hash: hex64, Source: "policy.yaml", Rules: 4}))
	_, key, _ := ed25519.GenerateKey(nil)
	prev := schemas.GenesisPrev
	for _, n := range []uint64{0, 1, 2, 3, 4} {
		cp := schemas.Checkpoint{Instance: "gw-1", Run: run, Number: n, Prev: prev, From: tt(int(n) * 60), To: tt(int(n+1) * 60),
			IntervalMS: 60000, Sessions: []schemas.SessionHead{}}
		if err := schemas.SignCheckpoint(&cp, key); err != nil {
			t.Fatal(err)
		}
		prev, _ = schemas.CheckpointHash(cp)
		e := emit(g, int(n+1)*60, schemas.TypeGatewayCheckpoint, cp)
		if n != 3 {
			sc.audit = append(sc.audit, e) // checkpoint 3 is "deleted"
		}
	}
	sc.audit = append(sc.audit, emit(g, 400, schemas.TypeGatewayStopped, schemas.GatewayStopped{Reason: "signal", SessionsServed: 3}))

	// S1: alice, three reads (two on cardholder data, masked) and an export, ended; credential revoked within its TTL.
	c1 := chain(schemas.NewID())
	sc.s1 = c1.Session()
	sc.audit = append(sc.audit,
		emit(c1, 10, schemas.TypeAuthSucceeded, schemas.AuthSucceeded{Identity: alice, Client: client, Target: "payments", RequestedRole: "app"}),
		emit(c1, 10, schemas.TypeCredentialIssued, schemas.CredentialIssued{Role: "jit_a", Target: "payments", Granted: []string{"app"},
			ValidUntil: tt(70), TTLMS: 60000, ForSession: sc.s1}),
		emit(c1, 11, schemas.TypeSessionStarted, schemas.SessionStarted{Identity: alice, Client: client, Target: "payments",
			Database: "payments", RequestedRole: "app", Role: "jit_a", Granted: []string{"app"}, MaskShape: "first6last4"}),
		emit(c1, 12, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: withContext(stmt(0, "read", "SELECT pan FROM cards", true, "cards"),
			"purpose", "refund review", "step", "1.0", "thought", "cards with repeated refunds", "branch", "2",
			"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "ticket", "PAY-7 411111******1111"),
			Role: "jit_a", Outcome: "ok", Rows: 5, MaskShape: "first6last4", Masked: []schemas.ColumnCount{{Column: "pan", Count: 5}}}),
		emit(c1, 13, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: stmt(1, "read", "SELECT * FROM cards JOIN orders", true, "cards", "orders"),
			Role: "jit_a", Outcome: "ok", Rows: 2, MaskShape: "first6last4", Masked: []schemas.ColumnCount{{Column: "pan", Count: 2}}}),
		emit(c1, 14, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: stmt(2, "read", "SELECT id FROM orders", false, "orders"),
			Role: "jit_a", Outcome: "ok", Rows: 1, MaskShape: "first6last4"}),
	)
	// S1's export of card numbers, recorded ahead (forwarded) and completed: 20 rows copied, 18 masked.
	export := stmt(3, "copy", "COPY (SELECT id, pan FROM cards) TO STDOUT", true, "cards")
	export.RiskTags = []string{"copy_out"}
	exp := emit(c1, 15, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: export, Role: "jit_a", Outcome: "forwarded", MaskShape: "first6last4"})
	sc.exportDone = emit(c1, 16, schemas.TypeQueryCompleted, schemas.QueryCompleted{Intent: exp.Seq, Index: 3, Kind: "copy", Outcome: "ok",
		CommandTag: "COPY 20", Rows: 20, DurationUS: 900, MaskShape: "first6last4", Masked: []schemas.ColumnCount{{Column: "pan", Count: 18}},
		Sample: &schemas.Sample{Columns: []string{"id", "pan"}, Rows: [][]string{{"1", "411111******1111"}}, Truncated: true}})
	sc.audit = append(sc.audit, exp, sc.exportDone,
		emit(c1, 20, schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate", Statements: 4}),
		emit(c1, 40, schemas.TypeCredentialRevoked, schemas.CredentialRevoked{Role: "jit_a", Target: "payments", Reason: "session_end", IssuedAt: tt(10)}),
	)

	// S2: bob (a person on a workload account): DDL, a blocked statement, an approved write; never ended;
	// credential revoked long after its 1 s TTL.
	c2 := chain(schemas.NewID())
	sc.s2 = c2.Session()
	req := schemas.ApprovalRequested{ApprovalID: "ap-1", Session: sc.s2, Identity: bob, Target: "payments", Role: "jit_b",
		Statement: stmt(2, "write", "UPDATE cards SET x = 1", true, "cards"), Rule: "hold-writes", Reason: "write on cardholder data",
		Expires: tt(600), GatewayInst: "gw-1"}
	sc.audit = append(sc.audit,
		emit(c2, 30, schemas.TypeAuthSucceeded, schemas.AuthSucceeded{Identity: bob, Client: client, Target: "payments", RequestedRole: "app"}),
		emit(c2, 30, schemas.TypeCredentialIssued, schemas.CredentialIssued{Role: "jit_b", Target: "payments", Granted: []string{"app"},
			ValidUntil: tt(31), TTLMS: 1000, ForSession: sc.s2}),
		emit(c2, 31, schemas.TypeSessionStarted, schemas.SessionStarted{Identity: bob, Client: client, Target: "payments",
			Database: "payments", RequestedRole: "app", Role: "jit_b", Granted: []string{"app"}, MaskShape: "first6last4"}),
	)
	// Statements recorded ahead (forwarded) and their outcomes (query.completed naming the intent's seq): the
	// DDL ran, the approved write changed one row, an insert failed, a delete of the same batch was skipped,
	// and the last DDL has no outcome (the gateway stopped first).
	ahead := func(sec int, st schemas.Statement, ap *schemas.ApprovalRef, done *schemas.QueryCompleted) {
		in := emit(c2, sec, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: st, Role: "jit_b", Outcome: "forwarded",
			MaskShape: "first6last4", Approval: ap})
		sc.audit = append(sc.audit, in)
		if done != nil {
			done.Intent, done.Index, done.Kind, done.MaskShape = in.Seq, st.Index, st.Kind, "first6last4"
			sc.audit = append(sc.audit, emit(c2, sec, schemas.TypeQueryCompleted, *done))
		}
	}
	ahead(32, stmt(0, "ddl", "ALTER TABLE orders ADD COLUMN x int", false, "orders"), nil,
		&schemas.QueryCompleted{Outcome: "ok", CommandTag: "ALTER TABLE", DurationUS: 300})
	sc.audit = append(sc.audit,
		emit(c2, 33, schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: stmt(1, "read", "SELECT cvv FROM cards", true, "cards"),
			Role: "jit_b", Reason: "policy_deny", Message: "denied", SQLState: "42501", Rule: "no-cvv"}),
		emit(c2, 34, schemas.TypeApprovalRequested, req))
	ahead(40, req.Statement, &schemas.ApprovalRef{ID: "ap-1", Decision: "approved", By: "U_CAROL"},
		&schemas.QueryCompleted{Outcome: "ok", CommandTag: "UPDATE 1", Rows: 1, DurationUS: 700})
	insert := stmt(3, "write", "INSERT INTO orders VALUES ($1)", false, "orders")
	insert.Params = []string{"42"}
	ahead(41, insert, nil, &schemas.QueryCompleted{Outcome: "error", SQLState: "23505", Error: "duplicate key value violates unique constraint"})
	ahead(42, stmt(4, "write", "DELETE FROM orders WHERE id = 1", false, "orders"), nil, &schemas.QueryCompleted{Outcome: "skipped"})
	ahead(43, stmt(5, "ddl", "DROP TABLE tmp", false, "tmp"), nil, nil)
	sc.audit = append(sc.audit,
		emit(c2, 150, schemas.TypeCredentialRevoked, schemas.CredentialRevoked{Role: "jit_b", Target: "payments", Reason: "reaped", IssuedAt: tt(30)}),
	)

	// S3: one event never reached the log (seq 1 missing).
	c3 := chain(schemas.NewID())
	sc.s3 = c3.Session()
	sc.audit = append(sc.audit, emit(c3, 50, schemas.TypeSessionStarted, schemas.SessionStarted{Identity: alice, Client: client,
		Target: "payments", Database: "payments", RequestedRole: "app", Role: "jit_c", Granted: []string{"app"}, MaskShape: "first6last4"}))
	emit(c3, 51, schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: stmt(0, "read", "SELECT 1", false), Role: "jit_c", Outcome: "ok", MaskShape: "first6last4"})
	sc.audit = append(sc.audit, emit(c3, 52, schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_gone", Statements: 1}))

	// Auth failures: two expired tokens from issuer.test, one foreign issuer.
	for i, f := range []schemas.AuthFailed{
		{Client: schemas.Client{Addr: "10.9.9.1:1"}, Issuer: "https://issuer.test", Subject: "repo:acme/etl", Reason: "expired", Message: "expired", SQLState: "28P01"},
		{Client: schemas.Client{Addr: "10.9.9.2:1"}, Issuer: "https://issuer.test", Subject: "repo:acme/etl", Reason: "expired", Message: "expired", SQLState: "28P01"},
		{Client: schemas.Client{Addr: "10.9.9.3:1"}, Issuer: "https://evil.test", Subject: "x", Reason: "unknown_issuer", Message: "unknown issuer", SQLState: "28P01"},
	} {
		sc.audit = append(sc.audit, emit(chain(schemas.NewID()), 60+i, schemas.TypeAuthFailed, f))
	}

	// The indexer's retention run and a reporter run.
	ix := chain(schemas.NewID())
	sc.audit = append(sc.audit,
		emit(ix, 500, schemas.TypeRetentionDropped, schemas.RetentionDropped{Table: "events", Partitions: []string{"202401"}, KeepMonths: 12}),
		emit(chain(schemas.NewID()), 501, schemas.TypeReportGenerated, schemas.ReportGenerated{Kind: "daily_review", From: tt(-86400), To: tt(0),
			Location: "s3://evidence/x", ManifestHash: hex64, Events: 10}))

	// Approvals topic: ap-1 requested, notified, approved; ap-2 requested and expired.
	un := func(sec int, stream, typ string, d any) schemas.Event {
		c := chain(stream)
		c.Now = at(sec)
		e, err := c.Peek(typ, d)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	req2 := req
	req2.ApprovalID, req2.Statement.SQL = "ap-2", "DELETE FROM cards"
	sc.approv = append(sc.approv,
		un(34, "ap-1", schemas.TypeApprovalRequested, req),
		un(35, "ap-1", schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: "ap-1", Channel: "C1", MessageTS: "1.2"}),
		un(38, "ap-1", schemas.TypeApprovalDecided, schemas.ApprovalDecided{ApprovalID: "ap-1", Decision: "approved", By: "U_CAROL",
			ByEmail: "carol@acme.test", Reason: "ticket 42", LatencyMS: 4200}),
		un(39, "ap-1", schemas.TypeApprovalDecided, schemas.ApprovalDecided{ApprovalID: "ap-1", Decision: "denied", By: "U_DAVE", LatencyMS: 5000}),
		un(70, "ap-2", schemas.TypeApprovalRequested, req2),
		un(700, "ap-2", schemas.TypeApprovalExpired, schemas.ApprovalExpired{ApprovalID: "ap-2", Expires: tt(690)}),
	)
	return sc
}

// TestCookbook runs every query of docs/auditors.md against the scenario, produced through Kafka and
// ingested by the indexer, and checks each result.
func TestCookbook(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	sc := buildScenario(t)
	en.produce(schemas.TopicAudit, sc.audit...)
	en.produce(schemas.TopicApprovals, sc.approv...)
	en.produce(schemas.TopicAudit, sc.exportDone) // at-least-once delivery: the same completion again
	en.produceRaw(&kgo.Record{Topic: en.prefix + schemas.TopicAudit, Value: []byte("not an event")})
	p := en.start()
	en.waitCount(30*time.Second, uint64(len(sc.audit)+len(sc.approv)), "SELECT count() FROM events FINAL")
	en.waitCount(30*time.Second, 1, "SELECT count() FROM dead_letters FINAL")
	p.stop(t)

	qs, err := cookbook.All()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, e := range append(append([]schemas.Event{}, sc.audit...), sc.approv...) {
		types[e.Type] = true
	}
	params := map[string]map[string]string{
		"02_session_statements":  {"session_id": sc.s2},
		"07_statements_on_table": {"target_table": "orders"},
	}
	checks := map[string]func(t *testing.T, rs []map[string]string){
		"01_cardholder_access_yesterday": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 3)
			eq(t, rs[0], "subject", "repo:acme/etl", "table_name", "cards", "statements", "3", "rows_returned", "27")
			eq(t, rs[1], "subject", "repo:acme/etl", "table_name", "orders", "statements", "1")
			eq(t, rs[2], "subject", "repo:acme/report", "role", "jit_b", "table_name", "cards", "statements", "2")
		},
		"02_session_statements": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 6)
			eq(t, rs[0], "stmt_index", "0", "kind", "ddl", "outcome", "ok", "command_tag", "ALTER TABLE")
			eq(t, rs[1], "stmt_index", "1", "outcome", "blocked", "block_reason", "policy_deny")
			eq(t, rs[2], "stmt_index", "2", "outcome", "ok", "approval_id", "ap-1", "row_count", "1", "command_tag", "UPDATE 1")
			eq(t, rs[3], "stmt_index", "3", "outcome", "error", "sqlstate", "23505", "params", "[42]")
			eq(t, rs[4], "stmt_index", "4", "outcome", "skipped")
			eq(t, rs[5], "stmt_index", "5", "outcome", "forwarded") // no outcome recorded: stays readable as the intent
		},
		"03_approvals": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 2)
			eq(t, rs[0], "approval_id", "ap-1", "requester", "repo:acme/report", "outcome", "approved", "approver", "U_CAROL",
				"approver_email", "carol@acme.test", "latency_ms", "4200", "rule", "hold-writes")
			eq(t, rs[1], "approval_id", "ap-2", "outcome", "expired", "approver", "")
		},
		"04_auth_failures": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 2)
			eq(t, rs[0], "issuer", "https://issuer.test", "reason", "expired", "failures", "2", "client_addresses", "2")
			eq(t, rs[1], "issuer", "https://evil.test", "reason", "unknown_issuer", "failures", "1")
		},
		"05_credentials_outliving_ttl": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 1)
			eq(t, rs[0], "role", "jit_b", "ttl_ms", "1000", "revoke_reason", "reaped", "alive_ms", "120000")
		},
		"06_sessions_without_end": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 1)
			eq(t, rs[0], "session", sc.s2, "subject", "repo:acme/report", "role", "jit_b")
		},
		"07_statements_on_table": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 5)
			eq(t, rs[0], "session", sc.s1, "subject", "repo:acme/etl", "cardholder", "1")
			eq(t, rs[1], "session", sc.s1, "cardholder", "0")
			eq(t, rs[2], "session", sc.s2, "kind", "ddl", "outcome", "ok")
			eq(t, rs[3], "session", sc.s2, "kind", "write", "outcome", "error", "sqlstate", "23505")
			eq(t, rs[4], "session", sc.s2, "kind", "write", "outcome", "skipped")
		},
		"08_masked_values_by_workload": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 2) // S3's only statement never reached the log
			eq(t, rs[0], "subject", "repo:acme/etl", "statements", "4", "statements_with_masking", "3", "masked_values", "25")
			eq(t, rs[1], "subject", "repo:acme/report", "statements", "5", "masked_values", "0")
		},
		"09_checkpoint_gaps": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 1)
			eq(t, rs[0], "instance", "gw-1", "checkpoints", "4", "missing_checkpoints", "1", "longest_gap_ms", "60000", "interval_ms", "60000")
		},
		"10_blocked_statements": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 1)
			eq(t, rs[0], "session", sc.s2, "subject", "repo:acme/report", "block_reason", "policy_deny", "rule", "no-cvv")
		},
		"11_privileged_statements": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 6)
			eq(t, rs[0], "kind", "ddl", "human", "1", "outcome", "ok")
			eq(t, rs[1], "outcome", "blocked")
			eq(t, rs[2], "kind", "write", "outcome", "ok")
			eq(t, rs[3], "kind", "write", "outcome", "error", "sqlstate", "23505")
			eq(t, rs[4], "outcome", "skipped")
			eq(t, rs[5], "kind", "ddl", "outcome", "forwarded")
		},
		"12_chain_gaps": func(t *testing.T, rs []map[string]string) {
			// S3 lost its statement; the gateway run lost checkpoint 3 (its chain has a gap too).
			want(t, rs, 2)
			for _, r := range rs {
				switch r["session"] {
				case sc.s3:
					eq(t, r, "events", "2", "last_seq", "2", "missing", "1")
				case sc.run:
					eq(t, r, "missing", "1")
				default:
					t.Errorf("unexpected session %v", r)
				}
			}
		},
		"13_gateway_runs": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 1)
			eq(t, rs[0], "instance", src.Instance, "stop_reason", "signal", "clock_source", "chrony", "clock_offset_us", "120", "policy_hash", hex64)
		},
		"14_retention_and_reports": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 2)
			eq(t, rs[0], "event_type", "retention.dropped", "table_name", "events", "partitions", "[202401]", "keep_months", "12")
			eq(t, rs[1], "event_type", "report.generated", "report_kind", "daily_review")
		},
		"15_store_coverage": func(t *testing.T, rs []map[string]string) {
			want(t, rs, len(types))
			total := 0
			for _, r := range rs {
				var n int
				fmt.Sscan(r["events"], &n)
				total += n
			}
			if total != len(sc.audit)+len(sc.approv) {
				t.Errorf("coverage counts %d events, want %d", total, len(sc.audit)+len(sc.approv))
			}
		},
		"16_dead_letters": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 1)
			eq(t, rs[0], "stage", "parse", "records", "1")
		},
		"17_export_results": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 1) // the replayed completion counts once
			eq(t, rs[0], "session", sc.s1, "subject", "repo:acme/etl", "outcome", "ok", "command_tag", "COPY 20", "row_count", "20",
				"masked_columns", "[pan]", "masked_counts", "[18]", "masked_total", "18", "unmasked_rows", "2")
			if !strings.Contains(rs[0]["sample"], "411111******1111") {
				t.Errorf("sample %q lacks the masked row", rs[0]["sample"])
			}
		},
		"19_cardholder_reads_why": func(t *testing.T, rs []map[string]string) {
			// alice's run: two cardholder reads and the export; only the first read gave a reason
			want(t, rs, 3)
			eq(t, rs[0], "session", sc.s1, "subject", "repo:acme/etl", "run", "4242", "commit", "c0ffee", "step", "1.0",
				"thought", "cards with repeated refunds", "branch", "2", "purpose", "refund review", "ticket", "PAY-7 411111******1111",
				"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "outcome", "ok", "row_count", "5")
			eq(t, rs[1], "session", sc.s1, "purpose", "", "step", "")
			eq(t, rs[2], "session", sc.s1, "kind", "copy", "row_count", "20")
		},
		"18_statement_failures": func(t *testing.T, rs []map[string]string) {
			want(t, rs, 3)
			eq(t, rs[0], "session", sc.s2, "subject", "repo:acme/report", "stmt_index", "3", "outcome", "error", "sqlstate", "23505",
				"error", "duplicate key value violates unique constraint")
			eq(t, rs[1], "stmt_index", "4", "outcome", "skipped")
			eq(t, rs[2], "stmt_index", "5", "outcome", "forwarded", "sql", "DROP TABLE tmp")
		},
	}
	params["19_cardholder_reads_why"] = map[string]string{"run_id": "4242"}
	// The period variant over the scenario's day (yesterday) answers what query 1 answers.
	day := sc.base.Format("2006-01-02")
	params["20_cardholder_access_period"] = map[string]string{"from_day": day, "to_day": day}
	checks["20_cardholder_access_period"] = checks["01_cardholder_access_yesterday"]
	for _, q := range qs {
		t.Run(q.Name, func(t *testing.T) {
			check, ok := checks[q.Name]
			if !ok {
				t.Fatalf("cookbook query %s has no check in TestCookbook: add one", q.Name)
			}
			sql, err := q.Render(params[q.Name])
			if err != nil {
				t.Fatal(err)
			}
			rs := en.query(t, sql)
			check(t, rs)
			if t.Failed() {
				t.Logf("query:\n%s\nrows: %v", sql, rs)
			}
		})
	}
}

// TestCookbookToday: query 20 as written (no days given) answers "today": a statement on cardholder data
// recorded today is found, one of yesterday is not (the demo's same-day data was invisible to query 1).
func TestCookbookToday(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	now := time.Now().UTC()
	who := schemas.Identity{Issuer: "https://issuer.test", Subject: "repo:acme/today"}
	var evs []schemas.Event
	for i, at := range []time.Time{now.Add(-time.Minute), now.AddDate(0, 0, -1)} {
		c := schemas.NewChain(schemas.NewID(), src)
		c.Now = func() time.Time { return at }
		for _, x := range []struct {
			typ string
			d   any
		}{
			{schemas.TypeSessionStarted, schemas.SessionStarted{Identity: who, Client: schemas.Client{Addr: "10.0.0.1:1"}, Target: "payments",
				Database: "payments", RequestedRole: "app", Role: fmt.Sprintf("jit_%d", i), MaskShape: "first6last4"}},
			{schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: schemas.Statement{SQL: "SELECT pan FROM cards", Fingerprint: "fp",
				Kind: "read", Tables: []string{"cards"}, Cardholder: true, Protocol: "simple"}, Role: fmt.Sprintf("jit_%d", i), Outcome: "ok", Rows: 3}},
		} {
			e, err := c.Next(x.typ, x.d)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, e)
		}
	}
	en.produce(schemas.TopicAudit, evs...)
	p := en.start()
	en.waitCount(30*time.Second, uint64(len(evs)), "SELECT count() FROM events FINAL")
	p.stop(t)
	q := cookbookQuery(t, "20_cardholder_access_period")
	rs := en.query(t, q.SQL)
	want(t, rs, 1)
	eq(t, rs[0], "subject", "repo:acme/today", "role", "jit_0", "table_name", "cards", "statements", "1", "rows_returned", "3")
}

func cookbookQuery(t *testing.T, name string) cookbook.Query {
	t.Helper()
	qs, err := cookbook.All()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("cookbook has no query %s", name)
	return cookbook.Query{}
}

// query runs sql and returns the rows as column name → value printed with fmt.
func (en *env) query(t *testing.T, sql string) []map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rs, err := en.ch.Query(ctx, sql)
	if err != nil {
		t.Fatalf("query failed: %v\n%s", err, sql)
	}
	defer rs.Close()
	cols := rs.ColumnTypes()
	var out []map[string]string
	for rs.Next() {
		vals := make([]any, len(cols))
		for i, c := range cols {
			vals[i] = reflect.New(c.ScanType()).Interface()
		}
		if err := rs.Scan(vals...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c.Name()] = fmt.Sprint(reflect.ValueOf(vals[i]).Elem().Interface())
		}
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func want(t *testing.T, rs []map[string]string, n int) {
	t.Helper()
	if len(rs) != n {
		t.Fatalf("%d rows, want %d: %v", len(rs), n, rs)
	}
}

// eq checks pairs of column, value.
func eq(t *testing.T, row map[string]string, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		got, ok := row[kv[i]]
		if !ok {
			t.Errorf("no column %s in %v", kv[i], row)
			continue
		}
		if got != kv[i+1] && !strings.EqualFold(got, kv[i+1]) {
			t.Errorf("%s = %q, want %q (row %v)", kv[i], got, kv[i+1], row)
		}
	}
}

// withContext gives a statement the sqlcommenter context kv (key, value, …) as the gateway records it.
func withContext(s schemas.Statement, kv ...string) schemas.Statement {
	s.Context = &schemas.StatementContext{Values: map[string]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Context.Values[kv[i]] = kv[i+1]
	}
	return s
}
