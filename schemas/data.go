package schemas

// Data of each event type. Numbers are integers only (durations in microseconds, sizes in bytes), so the
// canonical encoding never has to format a float. Optional members carry omitempty; the JSON Schema files
// in json/ say which members are required.

// Identity is who a session acts for, as verified from the OIDC token (PCI DSS 10.2.2 "user id").
type Identity struct {
	Issuer  string            `json:"issuer"`
	Subject string            `json:"subject"`
	Claims  map[string]string `json:"claims,omitempty"` // workload claims kept for evidence: repository, workflow, service_account, email, azp…
	Groups  []string          `json:"groups,omitempty"`
	// Human marks a session whose identity is a person using a workload account (PCI DSS 10.2.1.2).
	Human bool `json:"human,omitempty"`
}

// Client is where a connection came from (PCI DSS 10.2.2 "origination").
type Client struct {
	Addr        string `json:"addr"` // host:port as seen by the gateway
	TLS         bool   `json:"tls"`
	Application string `json:"application,omitempty"` // startup application_name, masked
}

// Clock records the time source of a process at start (PCI DSS 10.6).
type Clock struct {
	Source   string `json:"source"`           // e.g. "system", "chrony", "ntp:pool.example"
	Synced   bool   `json:"synced"`           // whether the OS reports the clock synchronised
	OffsetUS int64  `json:"offset_us"`        // measured offset to the source, 0 when unknown
	Detail   string `json:"detail,omitempty"` // how it was measured
}

// GatewayStarted is the first event of a gateway run.
type GatewayStarted struct {
	Instance             string   `json:"instance"`
	Version              string   `json:"version"`
	Listen               string   `json:"listen"`
	Targets              []string `json:"targets,omitempty"`
	ConfigHash           string   `json:"config_hash,omitempty"`
	PolicyHash           string   `json:"policy_hash,omitempty"`
	MaskShape            string   `json:"mask_shape"`
	CheckpointIntervalMS int64    `json:"checkpoint_interval_ms"`
	KeyID                string   `json:"key_id"` // fingerprint of the checkpoint signing key (KeyID)
	Clock                Clock    `json:"clock"`
}

// GatewayStopped is the last event of a gateway run.
type GatewayStopped struct {
	Reason         string `json:"reason"` // "signal", "error: …"
	SessionsServed int64  `json:"sessions_served"`
	UptimeMS       int64  `json:"uptime_ms"`
}

// SessionHead is the newest event of one session as a checkpoint saw it.
type SessionHead struct {
	Session string `json:"session"`
	Seq     uint64 `json:"seq"`
	Hash    string `json:"hash"`
	Ended   bool   `json:"ended,omitempty"`
}

// Checkpoint is a gateway's signed digest of the session heads it wrote during one interval. Empty
// checkpoints are emitted too, so a silent gateway is visible as a gap. Checkpoints of one run chain through
// Prev (the SHA-256 of the previous checkpoint's canonical data, signature included). See SignCheckpoint.
type Checkpoint struct {
	Instance   string        `json:"instance"`
	Run        string        `json:"run"`    // the gateway run's session id
	Number     uint64        `json:"number"` // 0, 1, 2… within the run
	Prev       string        `json:"prev"`   // GenesisPrev for number 0
	From       string        `json:"from"`   // interval start (TimeLayout)
	To         string        `json:"to"`     // interval end (TimeLayout)
	IntervalMS int64         `json:"interval_ms"`
	Sessions   []SessionHead `json:"sessions"` // sorted by session id; may be empty
	KeyID      string        `json:"key_id"`
	Signature  string        `json:"signature"` // base64 Ed25519 over the canonical data without "signature"
}

// AuthSucceeded records a verified login.
type AuthSucceeded struct {
	Identity      Identity `json:"identity"`
	Client        Client   `json:"client"`
	Target        string   `json:"target"`
	Database      string   `json:"database,omitempty"`
	RequestedRole string   `json:"requested_role"`
	TokenID       string   `json:"token_id,omitempty"` // jti if present (never the token)
	TokenExpiry   string   `json:"token_expiry,omitempty"`
}

// AuthFailed records a refused login (PCI DSS 10.2.1.4). Issuer and Subject are unverified claims, if the
// token could be read at all; they help an auditor and must not be trusted.
type AuthFailed struct {
	Client        Client `json:"client"`
	Target        string `json:"target,omitempty"`
	User          string `json:"user,omitempty"` // startup user as sent
	RequestedRole string `json:"requested_role,omitempty"`
	Issuer        string `json:"issuer,omitempty"`
	Subject       string `json:"subject,omitempty"`
	Reason        string `json:"reason"` // machine word: expired, not_yet_valid, wrong_audience, unknown_issuer, bad_signature, bad_algorithm, malformed, issuer_unavailable, no_password, plaintext, unknown_target, policy, …
	Message       string `json:"message"`
	SQLState      string `json:"sqlstate"`
}

// SessionStarted opens a client session after a successful login and credential issue.
type SessionStarted struct {
	Identity      Identity `json:"identity"`
	Client        Client   `json:"client"`
	Target        string   `json:"target"`
	Database      string   `json:"database"`
	RequestedRole string   `json:"requested_role"`
	Role          string   `json:"role"` // the JIT role the session runs as
	Granted       []string `json:"granted"`
	MaskShape     string   `json:"mask_shape"`
	PolicyHash    string   `json:"policy_hash,omitempty"`
	// Run is the gateway run serving the session (the run chain's session id, Checkpoint.Run): the
	// checkpoints that must list the session are that run's. Absent in events written before it existed.
	Run string `json:"run,omitempty"`
	// Reads is the gateway's audit.reads mode for the session: "strict" or "pipelined" (ReadsStrict,
	// ReadsPipelined). It says what a crash of that gateway can lose (see SessionReaped). Contract version 3;
	// absent in older events.
	Reads string `json:"reads,omitempty"`
}

// audit.reads modes as recorded in SessionStarted.Reads and SessionReaped.Reads.
const (
	ReadsStrict    = "strict"
	ReadsPipelined = "pipelined"
	ReadsUnknown   = "unknown" // the session.started predates contract version 3, or was not found
)

// SessionEnded closes a session.
type SessionEnded struct {
	Reason     string `json:"reason"` // client_terminate, client_gone, idle_timeout, shutdown, error, audit_unavailable, upstream_closed
	Statements int64  `json:"statements"`
	Blocked    int64  `json:"blocked"`
	DurationUS int64  `json:"duration_us"`
	BytesIn    int64  `json:"bytes_in"`
	BytesOut   int64  `json:"bytes_out"`
}

// SessionReaped records a session that ended without session.ended: its gateway was killed, crashed or lost
// its host. The reaper of a gateway (any instance) that drops the session's expired just-in-time role reads
// the session back from the audit topic first and, when no session.ended is there, writes this event on its
// own run chain (the session's chain is left as its gateway wrote it, so nothing can fork it). LastSeq is the
// highest seq of the session in the topic: every event up to it was acknowledged by Kafka. With audit.reads
// pipelined the gateway released a read's result before its record was acknowledged, so the record of at
// most one read after LastSeq may be missing (Unrecorded 1); strict mode loses none (Unrecorded 0): no result
// was released unrecorded and every statement sent upstream was recorded first. (Contract version 3; docs/evidence.md
// "Sessions ended by a crash".)
type SessionReaped struct {
	Session  string `json:"session"`   // the session that ended without session.ended
	LastSeq  uint64 `json:"last_seq"`  // its highest seq in the audit topic
	LastHash string `json:"last_hash"` // that event's hash
	LastType string `json:"last_type"` // that event's type
	LastTime string `json:"last_time"` // that event's time (TimeLayout)
	Instance string `json:"instance"`  // the gateway instance that served it (the role's marker)
	Run      string `json:"run,omitempty"`
	Role     string `json:"role"` // the just-in-time role the reaper dropped
	Target   string `json:"target"`
	// Reads is the session's audit.reads (ReadsStrict, ReadsPipelined, or ReadsUnknown when its
	// session.started does not say: counted as pipelined, the weaker guarantee).
	Reads string `json:"reads"`
	// Unrecorded is the most statements the session may have run after LastSeq without a record: 1 (a read)
	// unless Reads is strict.
	Unrecorded int64 `json:"unrecorded"`
}

// CredentialIssued records a just-in-time role (PCI DSS 10.2.1.5, 8.6.3).
type CredentialIssued struct {
	Role       string   `json:"role"`
	Target     string   `json:"target"`
	Granted    []string `json:"granted"`
	ValidUntil string   `json:"valid_until"` // TimeLayout
	TTLMS      int64    `json:"ttl_ms"`
	ForSession string   `json:"for_session,omitempty"`
}

// CredentialRevoked records a JIT role's access ended: at session end (login disabled and backends
// terminated; the role is dropped once session.ended is acknowledged), by the reaper (dropped), or at
// shutdown.
type CredentialRevoked struct {
	Role     string `json:"role"`
	Target   string `json:"target"`
	Reason   string `json:"reason"` // session_end, reaped, shutdown
	IssuedAt string `json:"issued_at,omitempty"`
	Error    string `json:"error,omitempty"` // non-empty if the drop failed
}

// Statement describes one SQL statement as classified and redacted. SQL and Params never hold a full PAN.
type Statement struct {
	SQL         string   `json:"sql"`         // redacted text
	Fingerprint string   `json:"fingerprint"` // pg_query fingerprint (literal-independent)
	Params      []string `json:"params,omitempty"`
	Kind        string   `json:"kind"` // read, write, ddl, role, copy, utility, transaction, unparseable
	Tables      []string `json:"tables,omitempty"`
	Columns     []string `json:"columns,omitempty"`
	Cardholder  bool     `json:"cardholder"` // touched a table or column tagged as cardholder data
	// ResultCardholder names the result columns whose values come from tagged columns (by the parse
	// tree's lineage), in result order: a result with rows here and fewer masked values than rows
	// released cardholder data unmasked.
	ResultCardholder []string `json:"result_cardholder,omitempty"`
	RiskTags         []string `json:"risk_tags,omitempty"`
	RiskScore        int64    `json:"risk_score"`
	Protocol         string   `json:"protocol"` // simple, extended
	Index            int64    `json:"index"`    // statement number within the session, from 0
	// Context is what the workload said about why it sent the statement (sqlcommenter-style comments in
	// its text); absent when the text holds none.
	Context *StatementContext `json:"context,omitempty"`
}

// StatementContext holds the key/value pairs of the sqlcommenter-style comments of a statement
// (/*key='value',…*/, URL-encoded, as Google's sqlcommenter and OpenTelemetry's SQL instrumentation write
// them, W3C traceparent/tracestate included), decoded, masked for storage and size-capped
// (docs/context.md). The comments are comments to PostgreSQL too: they never change what a statement is.
// Which run, workflow and commit the session belongs to is in session.started's identity claims.
type StatementContext struct {
	Values map[string]string `json:"values,omitempty"` // key → value; keys are ASCII
	// Malformed counts comments that looked like key='value' lists but could not be read; they were ignored.
	Malformed int64 `json:"malformed,omitempty"`
	// Dropped counts pairs left out: beyond the caps on pairs and total size, invalid keys, repeated keys
	// (the first occurrence is kept).
	Dropped int64 `json:"dropped,omitempty"`
	// Truncated counts values cut at the value cap; a cut value ends in "…".
	Truncated int64 `json:"truncated,omitempty"`
}

// ColumnCount is a masked-value count for one column (or "error", "notice", "copy", "notification").
type ColumnCount struct {
	Column string `json:"column"`
	Count  int64  `json:"count"`
}

// Sample is a capped sample of a masked result.
type Sample struct {
	Columns   []string   `json:"columns"`
	Rows      [][]string `json:"rows"`
	Truncated bool       `json:"truncated,omitempty"`
}

// ApprovalRef links a statement to the approval that let it run.
type ApprovalRef struct {
	ID       string `json:"id"`
	Decision string `json:"decision"` // approved, denied, expired, withdrawn
	By       string `json:"by,omitempty"`
	ByEmail  string `json:"by_email,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// QueryExecuted records a statement that was sent upstream, with its outcome. It is written and
// acknowledged before any result byte reaches the client (invariant 1).
type QueryExecuted struct {
	Statement Statement `json:"statement"`
	Role      string    `json:"role"`
	// Outcome is ok or error for a read (recorded after it completed); forwarded for a statement recorded
	// before it was sent upstream (writes, DDL, role changes: the write-ahead path); streamed for a read
	// whose result outgrew the gateway's buffer (recorded with the rows seen so far).
	Outcome    string        `json:"outcome"`
	SQLState   string        `json:"sqlstate,omitempty"`
	Error      string        `json:"error,omitempty"` // masked
	CommandTag string        `json:"command_tag,omitempty"`
	Rows       int64         `json:"rows"`
	DurationUS int64         `json:"duration_us"`
	MaskShape  string        `json:"mask_shape"`
	Masked     []ColumnCount `json:"masked,omitempty"`
	Sample     *Sample       `json:"sample,omitempty"`
	Rule       string        `json:"rule,omitempty"`
	Approval   *ApprovalRef  `json:"approval,omitempty"`
}

// QueryCompleted is the outcome of a statement recorded ahead (a query.executed with Outcome
// "forwarded"): written once PostgreSQL answered it, and acknowledged before the session's next
// statement is forwarded, so a session never has more than one statement without a recorded outcome.
// Intent is the seq of that query.executed in the same session. (Contract version 2; a session written
// by an older gateway has no query.completed events, and its forwarded statements have no outcome.)
type QueryCompleted struct {
	Intent uint64 `json:"intent"`
	Index  int64  `json:"index"` // Statement.Index of the intent
	Kind   string `json:"kind"`  // Statement.Kind of the intent
	// Outcome is ok or error (PostgreSQL answered), or skipped: the server did not run it because an
	// earlier statement of the same query string or pipelined batch failed, or the session ended first.
	Outcome    string        `json:"outcome"`
	SQLState   string        `json:"sqlstate,omitempty"`
	Error      string        `json:"error,omitempty"` // masked
	CommandTag string        `json:"command_tag,omitempty"`
	Rows       int64         `json:"rows"` // rows returned, or affected as the command tag says
	DurationUS int64         `json:"duration_us"`
	MaskShape  string        `json:"mask_shape"`
	Masked     []ColumnCount `json:"masked,omitempty"`
	Sample     *Sample       `json:"sample,omitempty"`
}

// QueryBlocked records a statement that never reached the database (PCI DSS 10.2.1.4).
type QueryBlocked struct {
	Statement Statement    `json:"statement"`
	Role      string       `json:"role,omitempty"`
	Reason    string       `json:"reason"` // policy_deny, approval_denied, approval_expired, approval_withdrawn, audit_unavailable, parse_error, limit, approval_unavailable, lexing, unknown_name
	Message   string       `json:"message"`
	SQLState  string       `json:"sqlstate"`
	Rule      string       `json:"rule,omitempty"`
	Approval  *ApprovalRef `json:"approval,omitempty"`
}

// ApprovalRequested opens an approval for a held statement. It is written into the session's chain on the
// audit topic and, as an unchained event with the same data, to the approvals topic for the approver.
type ApprovalRequested struct {
	ApprovalID string   `json:"approval_id"`
	Session    string   `json:"session"`
	Identity   Identity `json:"identity"`
	Target     string   `json:"target"`
	Role       string   `json:"role"` // the session's just-in-time role (a generated name)
	// Database, RequestedRole and Granted say what the session acts as, for the approver: the database
	// it connected to, the role it asked for and the roles its just-in-time role was granted.
	Database      string    `json:"database,omitempty"`
	RequestedRole string    `json:"requested_role,omitempty"`
	Granted       []string  `json:"granted,omitempty"`
	Statement     Statement `json:"statement"`
	// ExpectedRows is the planner's estimate of the rows the statement touches or returns; absent (0)
	// when unknown (PostgreSQL's planner never estimates fewer than 1 row).
	ExpectedRows   int64  `json:"expected_rows,omitempty"`
	Rule           string `json:"rule"`
	Reason         string `json:"reason"` // why the policy holds it
	ApproverGroup  string `json:"approver_group,omitempty"`
	ReasonRequired bool   `json:"reason_required,omitempty"`
	Expires        string `json:"expires"` // TimeLayout
	GatewayInst    string `json:"gateway_instance"`
}

// ApprovalNotified records that the approver posted the request to Slack; a restarted approver that finds
// it in the log never posts again.
type ApprovalNotified struct {
	ApprovalID string `json:"approval_id"`
	Channel    string `json:"channel"`
	MessageTS  string `json:"message_ts"`
}

// ApprovalDecided is a decision. Only the first decided/expired event of an approval in the log applies.
type ApprovalDecided struct {
	ApprovalID string `json:"approval_id"`
	Decision   string `json:"decision"` // approved, denied, withdrawn
	By         string `json:"by"`       // Slack user id, or "client" for withdrawn, or "terminal:<user>"
	ByName     string `json:"by_name,omitempty"`
	ByEmail    string `json:"by_email,omitempty"`
	Reason     string `json:"reason,omitempty"`
	LatencyMS  int64  `json:"latency_ms"` // from request to decision
	// SelfChecks are the self-approval checks made before the decision was recorded, each
	// "<check>:<result>" (docs/approvals.md "Self-approval"), for example "subject:differs",
	// "requester_email:absent", "owners:not_owner". The gateway does not act on them; the signature
	// covers them like every other member.
	SelfChecks []string `json:"self_checks,omitempty"`
	// Request is the hash of the approval.requested event (approvals topic) the decision answers; the
	// gateway acts on a decision only if it names the request that gateway published.
	Request string `json:"request,omitempty"`
	// KeyID and Signature: the approver's Ed25519 signature over every other member (SignDecision). A
	// gateway ignores an approved or denied decision that does not verify against its configured keys;
	// only a withdrawal by "client" (written by a gateway) is unsigned. See docs/approvals.md.
	KeyID     string `json:"key_id,omitempty"`
	Signature string `json:"signature,omitempty"`
}

// ApprovalRejected is an alert: a reader (a gateway waiting for the approval, or the approver) ignored a
// closing event of an approval because it was not validly signed by a trusted approver key.
type ApprovalRejected struct {
	ApprovalID string `json:"approval_id"`
	EventID    string `json:"event_id"` // the ignored approval.decided event
	Decision   string `json:"decision"` // what it claimed
	By         string `json:"by,omitempty"`
	KeyID      string `json:"key_id,omitempty"`
	Reason     string `json:"reason"` // unsigned, unknown_key, bad_signature, other_request
	Detail     string `json:"detail,omitempty"`
}

// ApprovalExpired closes an approval nobody decided in time.
type ApprovalExpired struct {
	ApprovalID string `json:"approval_id"`
	Expires    string `json:"expires"`
}

// PolicyLoaded records the policy in force after a start or a successful reload.
type PolicyLoaded struct {
	Hash   string `json:"hash"` // hex SHA-256 of the policy file bytes
	Source string `json:"source"`
	Rules  int64  `json:"rules"`
}

// RetentionDropped records monthly partitions removed from the audit store by the retention job.
type RetentionDropped struct {
	Table      string   `json:"table"`
	Partitions []string `json:"partitions"`
	KeepMonths int64    `json:"keep_months"`
}

// ReportGenerated records a reporter run (it reads the audit store: PCI DSS 10.2.1.3).
type ReportGenerated struct {
	Kind         string `json:"kind"` // package, daily_review, transcript
	From         string `json:"from"`
	To           string `json:"to"`
	Location     string `json:"location"`
	ManifestHash string `json:"manifest_hash"`
	Events       int64  `json:"events"`
	KeyID        string `json:"key_id,omitempty"` // the signing key's KeyID: verify checks a package against it
}

// dataTypes maps each event type to a zero value of its data struct, for validation and samples.
var dataTypes = map[string]func() any{
	TypeGatewayStarted:    func() any { return new(GatewayStarted) },
	TypeGatewayStopped:    func() any { return new(GatewayStopped) },
	TypeGatewayCheckpoint: func() any { return new(Checkpoint) },
	TypeAuthSucceeded:     func() any { return new(AuthSucceeded) },
	TypeAuthFailed:        func() any { return new(AuthFailed) },
	TypeSessionStarted:    func() any { return new(SessionStarted) },
	TypeSessionEnded:      func() any { return new(SessionEnded) },
	TypeSessionReaped:     func() any { return new(SessionReaped) },
	TypeCredentialIssued:  func() any { return new(CredentialIssued) },
	TypeCredentialRevoked: func() any { return new(CredentialRevoked) },
	TypeQueryExecuted:     func() any { return new(QueryExecuted) },
	TypeQueryBlocked:      func() any { return new(QueryBlocked) },
	TypeQueryCompleted:    func() any { return new(QueryCompleted) },
	TypeApprovalRequested: func() any { return new(ApprovalRequested) },
	TypeApprovalNotified:  func() any { return new(ApprovalNotified) },
	TypeApprovalDecided:   func() any { return new(ApprovalDecided) },
	TypeApprovalExpired:   func() any { return new(ApprovalExpired) },
	TypeApprovalRejected:  func() any { return new(ApprovalRejected) },
	TypePolicyLoaded:      func() any { return new(PolicyLoaded) },
	TypeRetentionDropped:  func() any { return new(RetentionDropped) },
	TypeReportGenerated:   func() any { return new(ReportGenerated) },
}

// NewData returns a pointer to a zero data struct for typ, or ErrUnknownType.
func NewData(typ string) (any, error) {
	f, ok := dataTypes[typ]
	if !ok {
		return nil, ErrUnknownType
	}
	return f(), nil
}
