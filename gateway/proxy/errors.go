package proxy

import (
	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes the gateway itself sends.
const (
	// SQLStateAuditUnavailable refuses a statement whose event Kafka did not acknowledge: 58000
	// (system_error, "an error external to PostgreSQL itself"). The statement did not run; retry later.
	SQLStateAuditUnavailable = "58000"
	// SQLStatePolicyDenied refuses a statement the policy denies (or holds without an approval service).
	SQLStatePolicyDenied = "42501"
	// SQLStateAuthFailed is sent when the token is wrong (expired, bad signature, …).
	SQLStateAuthFailed = "28P01"
	// SQLStateAuthSpec is sent when the login cannot be checked or is not allowed (no TLS, bad user format,
	// unknown target, policy refuses the role).
	SQLStateAuthSpec = "28000"

	sqlstateTooManyConnections = "53300"
	sqlstateTooLarge           = "54000"
	sqlstateProtocol           = "08P01"
	sqlstateIdle               = "57P05"
	sqlstateAdminShutdown      = "57P01"
	sqlstateConnFailure        = "08006"
	sqlstateUpstream           = "08001"
	sqlstateNotSupported       = "0A000"
)

// errorFrame encodes an ErrorResponse frame.
func errorFrame(code, severity, msg string) []byte {
	e := pgproto3.ErrorResponse{Severity: severity, SeverityUnlocalized: severity, Code: code, Message: msg}
	b, _ := e.Encode(nil)
	return b
}

// noticeFrame encodes a NoticeResponse frame.
func noticeFrame(code, msg string) []byte {
	n := pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: code, Message: msg}
	b, _ := n.Encode(nil)
	return b
}

var syncFrame = []byte{'S', 0, 0, 0, 4}
