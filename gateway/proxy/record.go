package proxy

// Recording statements: the event view of a statement and the write-ahead record.

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/schemas"
)

// recordAhead writes the statement's event before it is forwarded (write-ahead).
func (ss *session) recordAhead(r *run) error {
	r.mode = modeAcked
	return ss.rec.intent(r)
}

// Outcomes written in query.executed besides "ok" and "error".
const (
	// OutcomeForwarded: written before a statement that may change data was sent upstream (write-ahead);
	// its result is not in the event.
	OutcomeForwarded = "forwarded"
	// OutcomeStreamed: a read whose result outgrew limits.result_buffer_bytes; the event was written when
	// the buffer filled, with the rows seen until then, and the rest of the result streamed after it.
	OutcomeStreamed = "streamed"
)

// auditRefusal refuses a statement whose event Kafka did not take. ErrIndeterminate ends the session.
func (ss *session) auditRefusal(r *run, err error, extended bool) (bool, schemas.EndReason) {
	s := ss.srv
	s.m.refusals.WithLabelValues("audit_unavailable").Inc()
	s.m.statement(r.cls.Kind, "refused")
	s.log.Warn("statement refused: audit log unavailable", "session", ss.id, "err", err)
	if errors.Is(err, audit.ErrIndeterminate) {
		ss.fatal(SQLStateAuditUnavailable, "pangate: the audit log did not confirm an event; the session ends to keep its record consistent")
		return false, schemas.EndAuditUnavailable
	}
	ss.pendingErr = errorFrame(SQLStateAuditUnavailable, "ERROR", auditUnavailableMsg)
	if extended {
		ss.refuseExtended()
	} else {
		ss.refuseQuery()
	}
	return false, ""
}

// readWithheldMsg answers a read that ran but whose record Kafka did not take.
const readWithheldMsg = "pangate: the audit log (Kafka) did not acknowledge the record of this read, so its result was withheld; the statement ran and is recorded as withheld once the audit log is back; retry when the audit log is available"

// notRunLaterUnrecorded is the outcome note of a statement recorded ahead whose query string was refused
// because the record of a later statement of the string was not acknowledged.
const notRunLaterUnrecorded = "not run: Kafka did not acknowledge the record of a later statement of its query string, so the string was refused"

const auditUnavailableMsg = "pangate: the audit log (Kafka) did not acknowledge the event recording this statement, so it was not run; retry when the audit log is available"

func formatOf(codes []int16, i int) int16 {
	switch len(codes) {
	case 0:
		return 0
	case 1:
		return codes[0]
	}
	if i < len(codes) {
		return codes[i]
	}
	return 0
}

// maxParamChars caps one rendered parameter in an event.
const maxParamChars = 256

// renderParam renders a bind parameter for the audit event. A binary parameter is masked here as a value
// of its type (a binary int8 or numeric PAN is invisible to Masker.Text, which masks the text later), on
// a copy: the frame forwarded upstream is left alone.
func (ss *session) renderParam(v []byte, format int16, oid uint32) string {
	if v == nil {
		return "NULL"
	}
	if format != 1 {
		return string(v)
	}
	h := append([]byte(nil), v...)
	ss.srv.deps.Masker.MaskValue(oid, 1, false, h)
	switch {
	case oid == 20 && len(h) == 8:
		return strconv.FormatInt(int64(binary.BigEndian.Uint64(h)), 10)
	case oid == 23 && len(h) == 4:
		return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(h))), 10)
	}
	if len(h) > maxParamChars/2 {
		h = h[:maxParamChars/2]
	}
	return `\x` + hex.EncodeToString(h)
}

// statement builds the event view of a classified statement: text and parameters masked. derived is
// what the statement's lineage lets out derived from cardholder data (session.lineage), for decide.
func (ss *session) statement(c classify.Statement, sql string, params []string, protocol string) (st schemas.Statement, derived []string) {
	m := ss.srv.deps.Masker
	if c.Text != "" {
		sql = c.Text
	}
	red, _ := m.Stored(sql)
	st = schemas.Statement{SQL: red, Fingerprint: c.Fingerprint, Kind: string(c.Kind), Tables: c.Tables,
		Columns: c.Columns, RiskTags: c.Tags, Protocol: protocol, Index: ss.stmtIndex}
	ss.stmtIndex++
	for _, p := range params {
		mp, _ := m.Stored(p)
		if len(mp) > maxParamChars {
			mp = mp[:maxParamChars] + "…"
		}
		st.Params = append(st.Params, mp)
	}
	st.Cardholder = ss.cardholder(c)
	st.Context = ss.statementContext(sql)
	derived, st.ResultCardholder = ss.lineage(c)
	return st, derived
}

func (s *Server) cardholderTable(t string) bool {
	t = strings.ToLower(t)
	if _, ok := s.cfg.cardholderTables[t]; ok {
		return true
	}
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		_, ok := s.cfg.cardholderTables[t[i+1:]]
		return ok
	}
	return false
}
