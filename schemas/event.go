package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Version is the envelope version written in every event's "v".
const Version = 1

// TimeLayout is the one time format events use: RFC 3339, UTC, microseconds.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// GenesisPrev is the "prev" of the first event of a chain (seq 0) and of every unchained event.
const GenesisPrev = "0000000000000000000000000000000000000000000000000000000000000000"

// Event types. Every type has a data struct in data.go and a JSON Schema in json/.
const (
	TypeGatewayStarted    = "gateway.started"
	TypeGatewayStopped    = "gateway.stopped"
	TypeGatewayCheckpoint = "gateway.checkpoint"
	TypeAuthSucceeded     = "auth.succeeded"
	TypeAuthFailed        = "auth.failed"
	TypeSessionStarted    = "session.started"
	TypeSessionEnded      = "session.ended"
	TypeSessionReaped     = "session.reaped"
	TypeCredentialIssued  = "credential.issued"
	TypeCredentialRevoked = "credential.revoked"
	TypeQueryExecuted     = "query.executed"
	TypeQueryBlocked      = "query.blocked"
	TypeQueryCompleted    = "query.completed"
	TypeApprovalRequested = "approval.requested"
	TypeApprovalNotified  = "approval.notified"
	TypeApprovalDecided   = "approval.decided"
	TypeApprovalExpired   = "approval.expired"
	TypeApprovalRejected  = "approval.rejected"
	TypePolicyLoaded      = "policy.loaded"
	TypeRetentionDropped  = "retention.dropped"
	TypeReportGenerated   = "report.generated"
)

// Types lists every event type, in a stable order.
var Types = []string{
	TypeGatewayStarted, TypeGatewayStopped, TypeGatewayCheckpoint,
	TypeAuthSucceeded, TypeAuthFailed, TypeSessionStarted, TypeSessionEnded,
	TypeCredentialIssued, TypeCredentialRevoked, TypeQueryExecuted, TypeQueryBlocked, TypeQueryCompleted,
	TypeApprovalRequested, TypeApprovalNotified, TypeApprovalDecided, TypeApprovalExpired,
	TypeApprovalRejected, TypePolicyLoaded, TypeRetentionDropped, TypeReportGenerated,
	TypeSessionReaped, // contract version 3: appended, so the golden vectors of the older types keep their hashes
}

// Event is the envelope of every record pangate writes to Kafka (one record per event).
//
// Hash is the hex SHA-256 of the canonical encoding of the event without its "hash" member
// (see Canonical). Prev is the Hash of the previous event of the same session, GenesisPrev for seq 0.
type Event struct {
	V       int             `json:"v"`
	ID      string          `json:"id"`   // UUIDv7
	Type    string          `json:"type"` // one of Types
	Time    string          `json:"time"` // TimeLayout
	Session string          `json:"session"`
	Seq     uint64          `json:"seq"`
	Prev    string          `json:"prev"`
	Hash    string          `json:"hash"`
	Gateway Source          `json:"gateway"`
	Data    json.RawMessage `json:"data"`
}

// Source names the process that wrote an event: a gateway instance, or an approver, indexer or reporter
// (the envelope member keeps the name "gateway" from the design contract).
type Source struct {
	Instance string `json:"instance"`
	Version  string `json:"version"`
}

// ErrUnknownType is returned for an event type that is not in Types.
var ErrUnknownType = errors.New("schemas: unknown event type")

// NewID returns a UUIDv7 string: time-ordered, so ids sort roughly by creation time.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// FormatTime renders t in the events' time format.
func FormatTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(TimeLayout)
}

// ParseTime reads a time written with FormatTime.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("schemas: time %q is not RFC 3339 UTC with microseconds (%s): %w", s, TimeLayout, err)
	}
	return t, nil
}

// Decode unmarshals the event's data into v, which should be the data struct of e.Type.
func (e *Event) Decode(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("schemas: decode data of %s event %s: %w", e.Type, e.ID, err)
	}
	return nil
}

// Timestamp parses e.Time.
func (e *Event) Timestamp() (time.Time, error) { return ParseTime(e.Time) }

// Parse decodes one Kafka record value into an Event. It checks only that the JSON is an envelope;
// use Validate for the JSON Schema and VerifyEvent for the hash.
func Parse(b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("schemas: not an event envelope: %w", err)
	}
	return e, nil
}

// Marshal encodes an event as the Kafka record value: its canonical encoding including "hash".
func Marshal(e Event) ([]byte, error) {
	return canonicalEvent(e, true)
}
