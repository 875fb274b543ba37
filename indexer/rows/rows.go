// Package rows turns one Kafka record into the ClickHouse rows the indexer writes: the raw events row, the
// typed row of its event type, or a dead letter that says why the record was refused. It is pure (no I/O),
// so the mapping is unit-tested without services.
//
// A record is accepted only if it is a JSON envelope that passes schemas.Validate (envelope and data JSON
// Schema), has a known type and envelope version, and its hash matches its contents (schemas.VerifyEvent).
// Everything else becomes a dead letter with the stage that refused it and the reason.
package rows

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/schemas"
)

// Table is an audit-store table, with the columns in the order Row.Values uses (auditstore.Events …).
type Table = auditstore.Table

// All lists every table the indexer writes, in insert order (auditstore.All).
var All = auditstore.All

// Partitioned lists the tables partitioned by month, which retention prunes (auditstore.Partitioned).
var Partitioned = auditstore.Partitioned

// Record is a Kafka record as the indexer consumed it.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Timestamp time.Time
}

// Row is one row of Table, Values in the order of Table.Columns.
type Row struct {
	Table  *Table
	Values []any
}

// Dead-letter stages: where a record was refused.
const (
	StageParse    = "parse"    // not a JSON envelope
	StageValidate = "validate" // fails the JSON Schema of the envelope or its data
	StageType     = "type"     // unknown type or envelope version
	StageVerify   = "verify"   // hash does not match contents
	StageMap      = "map"      // accepted by the schema but its data or time could not be mapped
)

// Validator checks a record value against the event JSON Schema; schemas.Validate in production.
type Validator func(record []byte) error

// Mapper maps records to rows.
type Mapper struct {
	Validate Validator
	// Decode, when set, is tried first: one scan that validates, verifies the hash and decodes the envelope
	// and data (schemas.DecodeRecord). It only ever accepts; whatever it leaves goes through Parse, Validate
	// and VerifyEvent, which decide and word the dead letter. Leave it nil with a Validate of your own.
	Decode func(record []byte) (schemas.Decoded, bool)
	// Now stamps ingested_us; tests replace it.
	Now func() time.Time
}

// NewMapper returns a Mapper that decodes each record once (schemas.DecodeRecord) and judges the records
// that leaves with schemas.Validate and schemas.VerifyEvent.
func NewMapper() *Mapper {
	return &Mapper{Validate: schemas.Validate, Decode: schemas.DecodeRecord, Now: time.Now}
}

// Map returns the rows for rec: the events row and the typed rows of its type, or exactly one dead-letter
// row. It never fails: whatever cannot be indexed is a dead letter.
func (m *Mapper) Map(rec Record) []Row {
	now := m.Now().UTC()
	dead := func(stage string, e *schemas.Event, err error) []Row {
		var id, typ string
		if e != nil {
			id, typ = e.ID, e.Type
		}
		ts := clampTime(rec.Timestamp)
		return []Row{{&auditstore.DeadLetters, []any{ts.Truncate(time.Second), micros(ts), rec.Topic, rec.Partition,
			rec.Offset, string(rec.Key), string(rec.Value), stage, err.Error(), id, typ, micros(now)}}}
	}
	if m.Decode != nil {
		if d, ok := m.Decode(rec.Value); ok {
			return m.accepted(rec, d.Event, d.Data, d.Raw, d.DataRaw, now, dead)
		}
	}
	e, err := schemas.Parse(rec.Value)
	if err != nil {
		return dead(StageParse, nil, err)
	}
	if _, err := schemas.NewData(e.Type); err != nil {
		return dead(StageType, &e, fmt.Errorf("type %q: %w", e.Type, err))
	}
	if e.V != schemas.Version {
		return dead(StageType, &e, fmt.Errorf("envelope version %d: this indexer reads version %d", e.V, schemas.Version))
	}
	if m.Validate != nil {
		if err := m.Validate(rec.Value); err != nil {
			return dead(StageValidate, &e, err)
		}
	}
	if err := schemas.VerifyEvent(e); err != nil {
		return dead(StageVerify, &e, err)
	}
	return m.accepted(rec, e, nil, string(rec.Value), string(e.Data), now, dead)
}

// accepted maps a valid, verified event: data is its decoded data struct, or nil to decode it here; raw and
// rawData are the record and its data member as strings.
func (m *Mapper) accepted(rec Record, e schemas.Event, data any, raw, rawData string, now time.Time,
	dead func(string, *schemas.Event, error) []Row) []Row {
	t, err := e.Timestamp()
	if err != nil {
		return dead(StageMap, &e, err)
	}
	if t.Before(minTime) || t.After(maxTime) {
		// ClickHouse DateTime cannot hold it: the insert would fail on every retry and stall the indexer.
		return dead(StageMap, &e, fmt.Errorf("time %s is outside %s…%s, which ClickHouse DateTime can store", e.Time,
			minTime.Format(time.DateOnly), maxTime.Format(time.DateOnly)))
	}
	ev := &env{Event: e, t: t.Truncate(time.Second), us: micros(t)}
	typed, err := typedRows(ev, rec, data)
	if err != nil {
		return dead(StageMap, &e, err)
	}
	out := make([]Row, 0, 1+len(typed))
	out = append(out, Row{&auditstore.Events, []any{e.ID, ev.t, ev.us, uint8(e.V), e.Type, e.Session, e.Seq, e.Prev, e.Hash,
		e.Gateway.Instance, e.Gateway.Version, rawData, raw, rec.Topic, rec.Partition, rec.Offset,
		string(rec.Key), micros(rec.Timestamp), micros(now)}})
	return append(out, typed...)
}

// The range of ClickHouse DateTime (1970 … 2106), with a day of margin for time zones.
var (
	minTime = time.Unix(86400, 0).UTC()
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

// clampTime keeps a Kafka record timestamp (which a producer may set to anything, -1 included) storable.
func clampTime(t time.Time) time.Time {
	t = t.UTC()
	if t.Before(minTime) {
		return minTime
	}
	if t.After(maxTime) {
		return maxTime
	}
	return t
}

type env struct {
	schemas.Event
	t  time.Time
	us uint64
}

// micros is t in microseconds since the Unix epoch, 0 for the zero time or times before 1970.
func micros(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixMicro())
}

// optMicros parses an optional event time ("" → 0).
func optMicros(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	t, err := schemas.ParseTime(s)
	if err != nil {
		return 0, err
	}
	return micros(t), nil
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func strs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func claims(m map[string]string) (keys, values []string) {
	keys, values = make([]string, 0, len(m)), make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		values = append(values, m[k])
	}
	return keys, values
}

func typedRows(e *env, rec Record, data any) ([]Row, error) {
	if data == nil {
		var err error
		if data, err = schemas.NewData(e.Type); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(e.Data, data); err != nil {
			return nil, fmt.Errorf("data of %s: %w", e.Type, err)
		}
	}
	switch d := data.(type) {
	case *schemas.SessionStarted:
		ck, cv := claims(d.Identity.Claims)
		return []Row{{&auditstore.Sessions, []any{e.ID, e.t, e.us, e.Session, e.Seq, e.Gateway.Instance, d.Identity.Issuer,
			d.Identity.Subject, ck, cv, strs(d.Identity.Groups), b2u(d.Identity.Human), d.Client.Addr, b2u(d.Client.TLS),
			d.Client.Application, d.Target, d.Database, d.RequestedRole, d.Role, strs(d.Granted), d.MaskShape,
			d.PolicyHash}}}, nil
	case *schemas.SessionEnded:
		return []Row{{&auditstore.SessionEnds, []any{e.ID, e.t, e.us, e.Session, e.Seq, e.Gateway.Instance, d.Reason,
			d.Statements, d.Blocked, d.DurationUS, d.BytesIn, d.BytesOut}}}, nil
	case *schemas.QueryExecuted:
		return statementRows(e, &d.Statement, d.Role, d.Outcome, d.SQLState, d.Error, d.CommandTag, d.Rows,
			d.DurationUS, d.MaskShape, d.Masked, d.Sample, d.Rule, "", d.Approval)
	case *schemas.QueryCompleted:
		mc, mn, total := maskedCounts(d.Masked)
		sample, err := sampleJSON(d.Sample)
		if err != nil {
			return nil, err
		}
		return []Row{{&auditstore.Completions, []any{e.ID, e.t, e.us, e.Session, e.Seq, e.Gateway.Instance, d.Intent, d.Index, d.Kind,
			d.Outcome, d.SQLState, d.Error, d.CommandTag, d.Rows, d.DurationUS, d.MaskShape, mc, mn, total, sample}}}, nil
	case *schemas.QueryBlocked:
		return statementRows(e, &d.Statement, d.Role, "blocked", d.SQLState, d.Message, "", 0, 0, "", nil, nil,
			d.Rule, d.Reason, d.Approval)
	case *schemas.ApprovalRequested:
		exp, err := optMicros(d.Expires)
		if err != nil {
			return nil, err
		}
		return []Row{approvalRow(e, rec, d.ApprovalID, d.Session, d.Identity.Issuer, d.Identity.Subject, d.Target,
			d.Role, &d.Statement, d.Rule, d.Reason, d.ApproverGroup, exp, "", "", "", "", 0, "", "")}, nil
	case *schemas.ApprovalNotified:
		return []Row{approvalRow(e, rec, d.ApprovalID, e.Session, "", "", "", "", nil, "", "", "", 0, "", "", "", "",
			0, d.Channel, d.MessageTS)}, nil
	case *schemas.ApprovalDecided:
		return []Row{approvalRow(e, rec, d.ApprovalID, e.Session, "", "", "", "", nil, "", d.Reason, "", 0,
			d.Decision, d.By, d.ByName, d.ByEmail, d.LatencyMS, "", "")}, nil
	case *schemas.ApprovalExpired:
		exp, err := optMicros(d.Expires)
		if err != nil {
			return nil, err
		}
		return []Row{approvalRow(e, rec, d.ApprovalID, e.Session, "", "", "", "", nil, "", "", "", exp, string(schemas.OutcomeExpired),
			"", "", "", 0, "", "")}, nil
	case *schemas.ApprovalRejected:
		// An alert, not a decision: the cookbook's outcome reads only decided/expired rows.
		return []Row{approvalRow(e, rec, d.ApprovalID, e.Session, "", "", "", "", nil, "", d.Reason+": "+d.Detail, "", 0,
			"rejected", d.By, "", "", 0, "", "")}, nil
	case *schemas.AuthSucceeded:
		exp, err := optMicros(d.TokenExpiry)
		if err != nil {
			return nil, err
		}
		ck, cv := claims(d.Identity.Claims)
		return []Row{{&auditstore.AuthEvents, []any{e.ID, e.t, e.us, e.Session, e.Gateway.Instance, e.Type, "ok",
			d.Identity.Issuer, d.Identity.Subject, ck, cv, strs(d.Identity.Groups), b2u(d.Identity.Human),
			d.Client.Addr, b2u(d.Client.TLS), d.Client.Application, d.Target, d.Database, "", d.RequestedRole,
			d.TokenID, exp, "", "", ""}}}, nil
	case *schemas.AuthFailed:
		return []Row{{&auditstore.AuthEvents, []any{e.ID, e.t, e.us, e.Session, e.Gateway.Instance, e.Type, "failed",
			d.Issuer, d.Subject, []string{}, []string{}, []string{}, uint8(0), d.Client.Addr, b2u(d.Client.TLS),
			d.Client.Application, d.Target, "", d.User, d.RequestedRole, "", uint64(0), d.Reason, d.Message,
			d.SQLState}}}, nil
	case *schemas.CredentialIssued:
		vu, err := optMicros(d.ValidUntil)
		if err != nil {
			return nil, err
		}
		return []Row{{&auditstore.Credentials, []any{e.ID, e.t, e.us, e.Session, e.Gateway.Instance, e.Type, d.Role, d.Target,
			strs(d.Granted), vu, d.TTLMS, d.ForSession, "", uint64(0), ""}}}, nil
	case *schemas.CredentialRevoked:
		ia, err := optMicros(d.IssuedAt)
		if err != nil {
			return nil, err
		}
		return []Row{{&auditstore.Credentials, []any{e.ID, e.t, e.us, e.Session, e.Gateway.Instance, e.Type, d.Role, d.Target,
			[]string{}, uint64(0), int64(0), "", d.Reason, ia, d.Error}}}, nil
	case *schemas.Checkpoint:
		from, err := optMicros(d.From)
		if err != nil {
			return nil, err
		}
		to, err := optMicros(d.To)
		if err != nil {
			return nil, err
		}
		n := len(d.Sessions)
		hs, hq, hh, he := make([]string, n), make([]uint64, n), make([]string, n), make([]uint8, n)
		for i, h := range d.Sessions {
			hs[i], hq[i], hh[i], he[i] = h.Session, h.Seq, h.Hash, b2u(h.Ended)
		}
		return []Row{{&auditstore.Checkpoints, []any{e.ID, e.t, e.us, e.Session, e.Seq, d.Instance, d.Run, d.Number, d.Prev,
			from, to, d.IntervalMS, hs, hq, hh, he, d.KeyID, d.Signature, string(e.Data)}}}, nil
	case *schemas.GatewayStarted:
		l := lifecycle(e)
		l[8], l[9], l[10], l[11], l[12], l[13], l[14] = d.Listen, strs(d.Targets), d.ConfigHash, d.PolicyHash,
			d.MaskShape, d.CheckpointIntervalMS, d.KeyID
		l[15], l[16], l[17] = d.Clock.Source, b2u(d.Clock.Synced), d.Clock.OffsetUS
		return []Row{{&auditstore.Lifecycle, l}}, nil
	case *schemas.GatewayStopped:
		l := lifecycle(e)
		l[18], l[19], l[20] = d.Reason, d.SessionsServed, d.UptimeMS
		return []Row{{&auditstore.Lifecycle, l}}, nil
	case *schemas.PolicyLoaded:
		l := lifecycle(e)
		l[11], l[21], l[22] = d.Hash, d.Source, d.Rules
		return []Row{{&auditstore.Lifecycle, l}}, nil
	case *schemas.RetentionDropped:
		l := lifecycle(e)
		l[23], l[24], l[25] = d.Table, strs(d.Partitions), d.KeepMonths
		return []Row{{&auditstore.Lifecycle, l}}, nil
	case *schemas.SessionReaped:
		// On the reaping gateway's run chain, like its lifecycle events; its data stays in events.record
		// for the integrity report (docs/evidence.md, "Sessions ended by a crash").
		return []Row{{&auditstore.Lifecycle, lifecycle(e)}}, nil
	case *schemas.ReportGenerated:
		from, err := optMicros(d.From)
		if err != nil {
			return nil, err
		}
		to, err := optMicros(d.To)
		if err != nil {
			return nil, err
		}
		l := lifecycle(e)
		l[26], l[27], l[28], l[29], l[30], l[31] = d.Kind, from, to, d.Location, d.ManifestHash, d.Events
		l[14] = d.KeyID // key_id: the reporter's signing key
		return []Row{{&auditstore.Lifecycle, l}}, nil
	}
	return nil, fmt.Errorf("no typed table for %s", e.Type)
}

// lifecycle returns a lifecycle row with the envelope columns set and every other column empty.
func lifecycle(e *env) []any {
	return []any{e.ID, e.t, e.us, e.Session, e.Seq, e.Gateway.Instance, e.Gateway.Version, e.Type,
		"", []string{}, "", "", "", int64(0), "", "", uint8(0), int64(0), // 8..17 gateway.started
		"", int64(0), int64(0), // 18..20 gateway.stopped
		"", int64(0), // 21..22 policy.loaded
		"", []string{}, int64(0), // 23..25 retention.dropped
		"", uint64(0), uint64(0), "", "", int64(0), // 26..31 report.generated
	}
}

func statementRows(e *env, s *schemas.Statement, role, outcome, sqlstate, errText, tag string, rowCount, dur int64,
	maskShape string, masked []schemas.ColumnCount, sample *schemas.Sample, rule, blockReason string,
	ap *schemas.ApprovalRef) ([]Row, error) {
	mc, mn, total := maskedCounts(masked)
	sampleJSON, err := sampleJSON(sample)
	if err != nil {
		return nil, err
	}
	var apID, apDec, apBy string
	if ap != nil {
		apID, apDec, apBy = ap.ID, ap.Decision, ap.By
	}
	card := b2u(s.Cardholder)
	out := make([]Row, 0, 1+len(s.Tables))
	out = append(out, Row{&auditstore.Statements, []any{e.ID, e.t, e.us, e.Session, e.Seq, e.Gateway.Instance, e.Type, s.Index,
		s.SQL, s.Fingerprint, strs(s.Params), s.Kind, strs(s.Tables), strs(s.Columns), card, strs(s.RiskTags),
		s.RiskScore, s.Protocol, role, outcome, sqlstate, errText, tag, rowCount, dur, maskShape, mc, mn, total,
		sampleJSON, rule, blockReason, apID, apDec, apBy}})
	seen := make(map[string]bool, len(s.Tables))
	for _, tbl := range s.Tables {
		if seen[tbl] {
			continue
		}
		seen[tbl] = true
		out = append(out, Row{&auditstore.StatementTables, []any{e.ID, e.t, e.us, e.Session, tbl, s.Kind, card, outcome, role}})
	}
	return out, nil
}

// maskedCounts splits per-column masked counts into the parallel array columns and their sum.
func maskedCounts(masked []schemas.ColumnCount) (cols []string, counts []int64, total int64) {
	cols, counts = make([]string, len(masked)), make([]int64, len(masked))
	for i, c := range masked {
		cols[i], counts[i] = c.Column, c.Count
		total += c.Count
	}
	return cols, counts, total
}

// sampleJSON is the sample column: the masked sample as JSON, "" when there is none.
func sampleJSON(sample *schemas.Sample) (string, error) {
	if sample == nil {
		return "", nil
	}
	b, err := json.Marshal(sample)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func approvalRow(e *env, rec Record, id, session, issuer, subject, target, role string, s *schemas.Statement, rule,
	reason, group string, expires uint64, decision, by, byName, byEmail string, latency int64, channel,
	ts string) Row {
	var sql, fp, kind string
	tables := []string{}
	if s != nil {
		sql, fp, kind, tables = s.SQL, s.Fingerprint, s.Kind, strs(s.Tables)
	}
	return Row{&auditstore.Approvals, []any{e.ID, e.t, e.us, rec.Topic, e.Type, id, session, e.Gateway.Instance, issuer, subject,
		target, role, sql, fp, kind, tables, rule, reason, group, expires, decision, by, byName, byEmail, latency,
		channel, ts}}
}
