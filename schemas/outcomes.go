package schemas

// The words events use for how an approval closed and why a statement was blocked, a session ended or a
// credential was revoked: defined once here for the gateway, the approver, the indexer and the reporter
// (issue 17.2). The data structs keep plain string fields (the JSON is unchanged); write string(X) where one
// is set. TestOutcomeWordsMatchSchema checks each list against the member's JSON Schema enum when it has
// one and against the member's documenting comment in data.go otherwise, and that every example event uses
// a listed word.

// ApprovalOutcome is how an approval closed: approval.decided's decision, or expired (approval.expired;
// the indexer stores it in approvals.decision and ApprovalRef.Decision carries it).
type ApprovalOutcome string

// Approval outcomes.
const (
	OutcomePending   ApprovalOutcome = ""          // not closed yet (never written in an event)
	OutcomeApproved  ApprovalOutcome = "approved"  // an approver allowed the statement
	OutcomeDenied    ApprovalOutcome = "denied"    // an approver refused it
	OutcomeExpired   ApprovalOutcome = "expired"   // nobody decided before the approval expired
	OutcomeWithdrawn ApprovalOutcome = "withdrawn" // the gateway withdrew it (its client went away)
)

// ApprovalOutcomes lists the outcomes an event carries: ApprovalRef.Decision takes all of them,
// ApprovalDecided.Decision all but expired.
var ApprovalOutcomes = []ApprovalOutcome{OutcomeApproved, OutcomeDenied, OutcomeExpired, OutcomeWithdrawn}

// DecidedByClient is approval.decided's by when the gateway withdrew the approval because its client went
// away.
const DecidedByClient = "client"

// BlockReason is why query.blocked refused a statement (QueryBlocked.Reason).
type BlockReason string

// Block reasons.
const (
	BlockPolicyDeny        BlockReason = "policy_deny"        // a policy rule denies it
	BlockApprovalDenied    BlockReason = "approval_denied"    // its approval was denied
	BlockApprovalExpired   BlockReason = "approval_expired"   // its approval expired
	BlockApprovalWithdrawn BlockReason = "approval_withdrawn" // its approval was withdrawn
	BlockAuditUnavailable  BlockReason = "audit_unavailable"  // it could not be recorded first
	BlockParseError        BlockReason = "parse_error"        // it could not be classified
	BlockLimit             BlockReason = "limit"              // a protocol feature or size pangate does not carry
	// BlockApprovalUnavailable: the policy holds it but no approval service is configured or running.
	BlockApprovalUnavailable BlockReason = "approval_unavailable"
	// BlockLexing: it would change how later text is lexed, or its text cannot be lexed safely.
	BlockLexing BlockReason = "lexing"
	// BlockUnknownName: it names a prepared statement, portal or cursor the gateway does not know.
	BlockUnknownName BlockReason = "unknown_name"
)

// BlockReasons lists every BlockReason.
var BlockReasons = []BlockReason{BlockPolicyDeny, BlockApprovalDenied, BlockApprovalExpired, BlockApprovalWithdrawn,
	BlockAuditUnavailable, BlockParseError, BlockLimit, BlockApprovalUnavailable, BlockLexing, BlockUnknownName}

// BlockedByApproval is the block reason of a statement whose approval closed with o (denied, expired or
// withdrawn): "approval_" + o.
func BlockedByApproval(o ApprovalOutcome) BlockReason { return BlockReason("approval_" + string(o)) }

// EndReason is why a session ended (SessionEnded.Reason).
type EndReason string

// Session end reasons.
const (
	EndClientTerminate  EndReason = "client_terminate"  // the client sent Terminate
	EndClientGone       EndReason = "client_gone"       // the client's connection closed or failed
	EndIdleTimeout      EndReason = "idle_timeout"      // the client was idle too long
	EndShutdown         EndReason = "shutdown"          // the gateway shut down
	EndError            EndReason = "error"             // the upstream or the gateway failed
	EndAuditUnavailable EndReason = "audit_unavailable" // the session's events could not be recorded
	EndUpstreamClosed   EndReason = "upstream_closed"   // the server closed the connection
)

// EndReasons lists every EndReason.
var EndReasons = []EndReason{EndClientTerminate, EndClientGone, EndIdleTimeout, EndShutdown, EndError, EndAuditUnavailable,
	EndUpstreamClosed}

// RevokeReason is why a just-in-time credential was revoked (CredentialRevoked.Reason).
type RevokeReason string

// Credential revoke reasons.
const (
	RevokeSessionEnd RevokeReason = "session_end" // its session ended
	RevokeReaped     RevokeReason = "reaped"      // found left over (a gateway that stopped without revoking) and dropped
	RevokeShutdown   RevokeReason = "shutdown"    // the gateway shut down
)

// RevokeReasons lists every RevokeReason.
var RevokeReasons = []RevokeReason{RevokeSessionEnd, RevokeReaped, RevokeShutdown}
