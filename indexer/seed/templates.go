package seed

import (
	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/schemas"
)

// templates are the event shapes a seeded session is made of.
type templates struct {
	authFailed                             *template
	open, openHuman                        []*template // auth.succeeded, credential.issued, session.started
	read, readCard, readErr                *template
	write, writeOK, writeErr, writeSkipped *template
	export, exportOK                       *template
	blocked                                *template
	holdRequest, ddlApproved, ddlOK        *template
	ddlDenied, ddlExpired                  *template
	apRequested, apNotified, apApproved    *template
	apDenied, apExpired                    *template
	ended, revoked                         *template
}

func stmt(sql, kind string, tables, columns []string, cardholder bool, risk ...string) schemas.Statement {
	return schemas.Statement{SQL: sql, Fingerprint: "fp-" + kind + "-" + tables[0], Kind: kind, Tables: tables, Columns: columns,
		Cardholder: cardholder, RiskTags: risk, RiskScore: int64(10 * len(risk)), Protocol: "extended", Index: numMarkers[slotIndex]}
}

func newTemplates(cfg *Config) (*templates, error) {
	m := rows.NewMapper()
	m.Validate = nil // the markers are not valid ids; seeded records are validated in tests
	var firstErr error
	mk := func(typ string, data any) *template {
		t, err := newTemplate(m, typ, data, slotSession, "", cfg.AuditTopic)
		if err == nil {
			err = checkNoMarkers(t)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return t
	}
	// Requests are the gateway's (pangate.approvals); claims, messages, decisions and these expiries are
	// approver-1's (pangate.decisions, contract version 4).
	ap := func(typ string, data any) *template {
		topic := cfg.DecisionsTopic
		if typ == schemas.TypeApprovalRequested {
			topic = cfg.ApprovalsTopic
		}
		t, err := newTemplate(m, typ, data, slotApproval, "approver-1", topic)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return t
	}
	S, C, N, G, U, A := strMarkers[slotSession], strMarkers[slotClient], strMarkers[slotRun], strMarkers[slotInstance], strMarkers[slotSubject], strMarkers[slotApproval]
	_ = S
	hour, in10 := schemas.FormatTime(timeMarkers[slotTimeHour]), schemas.FormatTime(timeMarkers[slotTime10m])
	role := "pg_jit_" + C
	client := schemas.Client{Addr: "10.20.0.15:51234", TLS: true, Application: "etl-nightly"}
	ident := func(human bool) schemas.Identity {
		return schemas.Identity{Issuer: "https://token.actions.githubusercontent.com", Subject: U, Human: human,
			Claims: map[string]string{"repository": "acme/payments-etl", "workflow": "nightly", "run_id": "8812"}}
	}
	open := func(human bool) []*template {
		id := ident(human)
		return []*template{
			mk(schemas.TypeAuthSucceeded, schemas.AuthSucceeded{Identity: id, Client: client, Target: "cards", Database: "cards", RequestedRole: "etl"}),
			mk(schemas.TypeCredentialIssued, schemas.CredentialIssued{Role: role, Target: "cards", Granted: []string{"etl_reader", "etl_writer"},
				ValidUntil: hour, TTLMS: 3600000, ForSession: C}),
			mk(schemas.TypeSessionStarted, schemas.SessionStarted{Identity: id, Client: client, Target: "cards", Database: "cards",
				RequestedRole: "etl", Role: role, Granted: []string{"etl_reader", "etl_writer"}, MaskShape: "first6last4",
				PolicyHash: "abababababababababababababababababababababababababababababababab", Run: N}),
		}
	}
	t := &templates{open: open(false), openHuman: open(true)}
	t.authFailed = mk(schemas.TypeAuthFailed, schemas.AuthFailed{Client: client, Target: "cards", User: "etl", Subject: "repo:acme/unknown",
		Reason: "expired", Message: "token expired", SQLState: "28000"})
	sample := &schemas.Sample{Columns: []string{"id", "pan", "name"}, Rows: [][]string{{"1", "411111******1111", "A. Jones"}, {"2", "550000******0004", "B. Smith"}}}
	masked := []schemas.ColumnCount{{Column: "pan", Count: 20}}
	read := stmt("SELECT amount, day FROM payments WHERE day = $1", "read", []string{"payments"}, []string{"payments.amount", "payments.day"}, false)
	read.Params = []string{"2026-10-01"}
	t.read = mk(schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: read, Role: role, Outcome: "ok", CommandTag: "SELECT 20", Rows: 20, DurationUS: 900, MaskShape: "first6last4"})
	card := stmt("SELECT id, pan, name FROM cards WHERE customer = $1", "read", []string{"cards"}, []string{"cards.id", "cards.pan", "cards.name"}, true)
	card.Params = []string{"cust-42"}
	t.readCard = mk(schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: card, Role: role, Outcome: "ok", CommandTag: "SELECT 20", Rows: 20, DurationUS: 1400,
		MaskShape: "first6last4", Masked: masked, Sample: sample, Rule: "mask-cardholder"})
	t.readErr = mk(schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: stmt("SELECT * FROM vault_keys", "read", []string{"vault_keys"}, nil, false),
		Role: role, Outcome: "error", SQLState: "42501", Error: "permission denied for table vault_keys", DurationUS: 300, MaskShape: "first6last4"})
	w := stmt("UPDATE payments SET status = $1 WHERE id = $2", "write", []string{"payments"}, []string{"payments.status", "payments.id"}, false, "write")
	w.Params = []string{"settled", "99812"}
	t.write = mk(schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: w, Role: role, Outcome: "forwarded", MaskShape: "first6last4"})
	done := func(kind, outcome, tag, sqlstate, msg string, rows int64, masked []schemas.ColumnCount, sample *schemas.Sample) schemas.QueryCompleted {
		d := schemas.QueryCompleted{Intent: uint64(numMarkers[slotIntent]), Index: numMarkers[slotIndex], Kind: kind, Outcome: outcome, CommandTag: tag,
			SQLState: sqlstate, Error: msg, Rows: rows, MaskShape: "first6last4", Masked: masked, Sample: sample}
		if outcome != "skipped" {
			d.DurationUS = 2500
		}
		return d
	}
	t.writeOK = mk(schemas.TypeQueryCompleted, done("write", "ok", "UPDATE 1", "", "", 1, nil, nil))
	t.writeErr = mk(schemas.TypeQueryCompleted, done("write", "error", "", "23505", "duplicate key value violates unique constraint \"payments_pkey\"", 0, nil, nil))
	t.writeSkipped = mk(schemas.TypeQueryCompleted, done("write", "skipped", "", "", "", 0, nil, nil))
	exp := stmt("COPY (SELECT id, pan FROM cards) TO STDOUT", "copy", []string{"cards"}, []string{"cards.id", "cards.pan"}, true, "copy_out")
	t.export = mk(schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: exp, Role: role, Outcome: "forwarded", MaskShape: "first6last4"})
	t.exportOK = mk(schemas.TypeQueryCompleted, done("copy", "ok", "COPY 500", "", "", 500, []schemas.ColumnCount{{Column: "pan", Count: 500}},
		&schemas.Sample{Columns: []string{"id", "pan"}, Rows: [][]string{{"1", "411111******1111"}}, Truncated: true}))
	t.blocked = mk(schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: stmt("DELETE FROM cards", "write", []string{"cards"}, nil, true, "no_where"),
		Role: role, Rule: "deny-unbounded-delete", Reason: string(schemas.BlockPolicyDeny), Message: "blocked by policy deny-unbounded-delete", SQLState: "42501"})
	ddl := stmt("ALTER TABLE payments ADD COLUMN note text", "ddl", []string{"payments"}, nil, false, "ddl")
	req := schemas.ApprovalRequested{ApprovalID: A, Session: C, Identity: ident(false), Target: "cards", Role: role, Statement: ddl,
		Rule: "ddl-needs-approval", Reason: "DDL on the cardholder database", ApproverGroup: "dba", Expires: in10, GatewayInst: G}
	t.holdRequest = mk(schemas.TypeApprovalRequested, req)
	t.apRequested = ap(schemas.TypeApprovalRequested, req)
	t.apNotified = ap(schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: A, Channel: "C0DBA", MessageTS: "1730000000.000100"})
	decided := func(d schemas.ApprovalOutcome) *template {
		return ap(schemas.TypeApprovalDecided, schemas.ApprovalDecided{ApprovalID: A, Decision: string(d), By: "U042", ByName: "Alice", ByEmail: "alice@example.com",
			Reason: "change ticket CHG-1", LatencyMS: 30000})
	}
	t.apApproved, t.apDenied = decided(schemas.OutcomeApproved), decided(schemas.OutcomeDenied)
	t.apExpired = ap(schemas.TypeApprovalExpired, schemas.ApprovalExpired{ApprovalID: A, Expires: in10})
	ref := func(d schemas.ApprovalOutcome) *schemas.ApprovalRef {
		r := &schemas.ApprovalRef{ID: A, Decision: string(d)}
		if d != schemas.OutcomeExpired {
			r.By, r.ByEmail = "U042", "alice@example.com"
		}
		return r
	}
	t.ddlApproved = mk(schemas.TypeQueryExecuted, schemas.QueryExecuted{Statement: ddl, Role: role, Outcome: "forwarded", MaskShape: "first6last4", Approval: ref(schemas.OutcomeApproved)})
	t.ddlOK = mk(schemas.TypeQueryCompleted, done("ddl", "ok", "ALTER TABLE", "", "", 0, nil, nil))
	t.ddlDenied = mk(schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: ddl, Role: role, Rule: "ddl-needs-approval", Reason: string(schemas.BlockApprovalDenied),
		Message: "denied by approver", SQLState: "42501", Approval: ref(schemas.OutcomeDenied)})
	t.ddlExpired = mk(schemas.TypeQueryBlocked, schemas.QueryBlocked{Statement: ddl, Role: role, Rule: "ddl-needs-approval", Reason: string(schemas.BlockApprovalExpired),
		Message: "approval expired", SQLState: "42501", Approval: ref(schemas.OutcomeExpired)})
	t.ended = mk(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: string(schemas.EndClientTerminate), Statements: numMarkers[slotStmts], Blocked: numMarkers[slotBlocked],
		DurationUS: 9000000, BytesIn: 4096, BytesOut: 65536})
	t.revoked = mk(schemas.TypeCredentialRevoked, schemas.CredentialRevoked{Role: role, Target: "cards", Reason: string(schemas.RevokeSessionEnd)})
	return t, firstErr
}
