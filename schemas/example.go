package schemas

// Example returns a filled-in data struct for typ, as documentation and as test data for every consumer
// (schema validation, indexer mapping, reporter fixtures). Card numbers in it are masked, as pangate emits them.
func Example(typ string) (any, error) {
	id := Identity{
		Issuer: "https://issuer.example", Subject: "repo:payments/tot-nightly:ref:refs/heads/main",
		Claims: map[string]string{"repository": "payments/tot-nightly", "workflow": "nightly"},
		Groups: []string{"payments-batch"},
	}
	client := Client{Addr: "10.0.0.7:51324", TLS: true, Application: "tot-nightly"}
	stmt := Statement{
		SQL: "SELECT pan, amount FROM cards WHERE pan = '411111******1111'", Fingerprint: "a1b2c3d4e5f60718",
		Params: []string{"411111******1111"}, Kind: "read", Tables: []string{"cards"}, Columns: []string{"cards.pan", "cards.amount"},
		Cardholder: true, RiskTags: []string{}, RiskScore: 10, Protocol: "extended", Index: 3,
		Context: &StatementContext{Values: map[string]string{"purpose": "nightly refund review", "step": "2.1",
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
	}
	const ts = "2026-11-27T10:00:00.000000Z"
	const h = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	switch typ {
	case TypeGatewayStarted:
		return &GatewayStarted{Instance: "gw-1", Version: "0.1.0", Listen: "0.0.0.0:6432", Targets: []string{"payments"},
			ConfigHash: h, PolicyHash: h, MaskShape: "first6last4", CheckpointIntervalMS: 60000, KeyID: "00112233445566778899aabbccddeeff",
			Clock: Clock{Source: "chrony", Synced: true, OffsetUS: 120}}, nil
	case TypeGatewayStopped:
		return &GatewayStopped{Reason: "signal", SessionsServed: 42, UptimeMS: 3600000}, nil
	case TypeGatewayCheckpoint:
		return &Checkpoint{Instance: "gw-1", Run: "01936a6e-0000-7000-8000-000000000001", Number: 3, Prev: h, From: ts, To: ts,
			IntervalMS: 60000, Sessions: []SessionHead{{Session: "01936a6e-0000-7000-8000-000000000002", Seq: 7, Hash: h, Ended: true}},
			KeyID: "00112233445566778899aabbccddeeff", Signature: "c2lnbmF0dXJl"}, nil
	case TypeAuthSucceeded:
		return &AuthSucceeded{Identity: id, Client: client, Target: "payments", Database: "payments", RequestedRole: "app_reader",
			TokenID: "jti-1", TokenExpiry: ts}, nil
	case TypeAuthFailed:
		return &AuthFailed{Client: client, Target: "payments", User: "app_reader@payments", RequestedRole: "app_reader",
			Issuer: "https://issuer.example", Subject: "unknown", Reason: "expired", Message: "token expired at 2026-11-27T09:00:00Z", SQLState: "28P01"}, nil
	case TypeSessionStarted:
		return &SessionStarted{Identity: id, Client: client, Target: "payments", Database: "payments", RequestedRole: "app_reader",
			Role: "pangate_jit_5f3a", Granted: []string{"app_reader"}, MaskShape: "first6last4", PolicyHash: h}, nil
	case TypeSessionEnded:
		return &SessionEnded{Reason: "client_terminate", Statements: 12, Blocked: 1, DurationUS: 5300000, BytesIn: 2048, BytesOut: 65536}, nil
	case TypeSessionReaped:
		return &SessionReaped{Session: "01936a6e-0000-7000-8000-000000000002", LastSeq: 41, LastHash: h, LastType: TypeQueryExecuted,
			LastTime: ts, Instance: "gw-1", Run: "01936a6e-0000-7000-8000-000000000001", Role: "pangate_jit_5f3a", Target: "payments",
			Reads: ReadsPipelined, Unrecorded: 1}, nil
	case TypeCredentialIssued:
		return &CredentialIssued{Role: "pangate_jit_5f3a", Target: "payments", Granted: []string{"app_reader"}, ValidUntil: ts, TTLMS: 3600000,
			ForSession: "01936a6e-0000-7000-8000-000000000002"}, nil
	case TypeCredentialRevoked:
		return &CredentialRevoked{Role: "pangate_jit_5f3a", Target: "payments", Reason: "session_end", IssuedAt: ts}, nil
	case TypeQueryExecuted:
		return &QueryExecuted{Statement: stmt, Role: "pangate_jit_5f3a", Outcome: "ok", CommandTag: "SELECT 1", Rows: 1, DurationUS: 850,
			MaskShape: "first6last4", Masked: []ColumnCount{{Column: "pan", Count: 1}},
			Sample: &Sample{Columns: []string{"pan", "amount"}, Rows: [][]string{{"411111******1111", "12.50"}}}, Rule: "allow-reads"}, nil
	case TypeQueryCompleted:
		return &QueryCompleted{Intent: 7, Index: 3, Kind: "copy", Outcome: "ok", CommandTag: "COPY 20", Rows: 20, DurationUS: 4200,
			MaskShape: "first6last4", Masked: []ColumnCount{{Column: "pan", Count: 20}},
			Sample: &Sample{Columns: []string{"id", "pan"}, Rows: [][]string{{"1", "411111******1112"}}}}, nil
	case TypeQueryBlocked:
		return &QueryBlocked{Statement: stmt, Role: "pangate_jit_5f3a", Reason: "approval_denied", Message: "denied by alice: not during freeze",
			SQLState: "42501", Rule: "hold-copy-out", Approval: &ApprovalRef{ID: "01936a6e-0000-7000-8000-000000000003", Decision: "denied", By: "U024BE7LH", ByEmail: "alice@example.com", Reason: "not during freeze"}}, nil
	case TypeApprovalRequested:
		return &ApprovalRequested{ApprovalID: "01936a6e-0000-7000-8000-000000000003", Session: "01936a6e-0000-7000-8000-000000000002",
			Identity: id, Target: "payments", Role: "pangate_jit_5f3a", Database: "payments", RequestedRole: "etl_reader",
			Granted: []string{"etl_reader"}, Statement: stmt, ExpectedRows: 20, Rule: "hold-copy-out", Reason: "COPY out of a cardholder table",
			ApproverGroup: "payments-approvers", Expires: ts, GatewayInst: "gw-1"}, nil
	case TypeApprovalNotified:
		return &ApprovalNotified{ApprovalID: "01936a6e-0000-7000-8000-000000000003", Channel: "C0123", MessageTS: "1700000000.000100"}, nil
	case TypeApprovalDecided:
		return &ApprovalDecided{ApprovalID: "01936a6e-0000-7000-8000-000000000003", Decision: "approved", By: "U024BE7LH", ByName: "alice",
			ByEmail: "alice@example.com", Reason: "nightly export", LatencyMS: 5400,
			SelfChecks: []string{"subject:differs", "requester_email:absent", "owners:not_owner"}, Request: h,
			KeyID: "00112233445566778899aabbccddeeff", Signature: "c2lnbmF0dXJl"}, nil
	case TypeApprovalExpired:
		return &ApprovalExpired{ApprovalID: "01936a6e-0000-7000-8000-000000000003", Expires: ts}, nil
	case TypeApprovalRejected:
		return &ApprovalRejected{ApprovalID: "01936a6e-0000-7000-8000-000000000003", EventID: "01936a6e-0000-7000-8000-000000000004",
			Decision: "approved", By: "U024BE7LH", Reason: RejectUnsigned, Detail: "the decision carries no key id or no signature"}, nil
	case TypePolicyLoaded:
		return &PolicyLoaded{Hash: h, Source: "/etc/pangate/policy.yaml", Rules: 9}, nil
	case TypeRetentionDropped:
		return &RetentionDropped{Table: "pangate.events", Partitions: []string{"202410"}, KeepMonths: 12}, nil
	case TypeReportGenerated:
		return &ReportGenerated{Kind: "package", From: ts, To: ts, Location: "s3://evidence/packages/2026-11/v1/", ManifestHash: h, Events: 1000}, nil
	}
	return nil, ErrUnknownType
}
