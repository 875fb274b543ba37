package seed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/schemas"
)

// A template is one event shape (type and data) with the values that differ between events left as slots:
// its canonical data bytes split at the slot markers, and the typed rows indexer/rows maps it to, with the
// columns that hold a slot value marked. Filling a template is a copy, a few appends and one SHA-256: no
// JSON encoding per event, and the typed rows are exactly those rows.Map produces for the filled record
// (TestTemplatesMatchMapper checks it record by record).

// Slots: the per-event values.
const (
	slotSession  = iota // envelope session (the client session, a run id or an approval id)
	slotClient          // the client session named inside data (for_session, approval.requested's session)
	slotRun             // the gateway run
	slotInstance        // gateway instance
	slotID              // event id
	slotTime            // event time
	slotTimeHour        // event time + 1 h (credential valid_until)
	slotTime10m         // event time + 10 min (approval expiry)
	slotSubject         // OIDC subject
	slotApproval        // approval id
	slotIndex           // statement index
	slotIntent          // seq of the statement a completion answers
	slotStmts           // statements of a session
	slotBlocked         // blocked statements of a session
	slotSeq             // envelope seq
	nSlots
)

// Markers the template events carry in place of slot values. Strings are ASCII that canonical JSON writes
// literally; numbers are large and distinct so they never occur by accident.
var (
	strMarkers = [nSlots]string{slotSession: "@@S@@", slotClient: "@@C@@", slotRun: "@@N@@", slotInstance: "@@G@@",
		slotID: "@@I@@", slotSubject: "@@U@@", slotApproval: "@@A@@"}
	numMarkers = [nSlots]int64{slotIndex: 900000001, slotIntent: 900000002, slotStmts: 900000003,
		slotBlocked: 900000004, slotSeq: 900000005}
	markerTime   = time.Date(2001, 2, 3, 4, 5, 6, 123456000, time.UTC)
	timeMarkers  = [nSlots]time.Time{slotTime: markerTime, slotTimeHour: markerTime.Add(time.Hour), slotTime10m: markerTime.Add(10 * time.Minute)}
	timeDeltas   = [nSlots]time.Duration{slotTime: 0, slotTimeHour: time.Hour, slotTime10m: 10 * time.Minute}
	markerRecord = rows.Record{Partition: 7, Offset: 7, Key: []byte("k"), Timestamp: markerTime}
)

// seg is a literal piece of text or a slot.
type seg struct {
	lit  string
	slot int // -1 for a literal
}

// text is a string with slots.
type text []seg

// splitText splits s at every marker.
func splitText(s string) text {
	var out text
	for len(s) > 0 {
		at, slot, mlen := len(s), -1, 0
		for i := 0; i < nSlots; i++ {
			var m string
			switch {
			case strMarkers[i] != "":
				m = strMarkers[i]
			case numMarkers[i] != 0:
				m = strconv.FormatInt(numMarkers[i], 10)
			case !timeMarkers[i].IsZero():
				m = schemas.FormatTime(timeMarkers[i])
			default:
				continue
			}
			if j := strings.Index(s, m); j >= 0 && j < at {
				at, slot, mlen = j, i, len(m)
			}
		}
		if at > 0 {
			out = append(out, seg{lit: s[:at], slot: -1})
		}
		if slot < 0 {
			break
		}
		out = append(out, seg{slot: slot})
		s = s[at+mlen:]
	}
	return out
}

func (t text) constant() bool { return len(t) <= 1 && (len(t) == 0 || t[0].slot < 0) }

// vals are one event's slot values.
type vals struct {
	str [nSlots]string
	num [nSlots]int64
	t   time.Time
	ts  [nSlots]string // formatted times
}

func (v *vals) appendSlot(dst []byte, slot int) []byte {
	switch {
	case strMarkers[slot] != "":
		return append(dst, v.str[slot]...)
	case numMarkers[slot] != 0:
		return strconv.AppendInt(dst, v.num[slot], 10)
	default:
		if v.ts[slot] == "" {
			v.ts[slot] = schemas.FormatTime(v.t.Add(timeDeltas[slot]))
		}
		return append(dst, v.ts[slot]...)
	}
}

func (t text) append(dst []byte, v *vals) []byte {
	for _, s := range t {
		if s.slot < 0 {
			dst = append(dst, s.lit...)
		} else {
			dst = v.appendSlot(dst, s.slot)
		}
	}
	return dst
}

// cell is one column of a template row: a constant, a text with slots, or a slot-derived number or time.
type cell struct {
	kind  uint8 // cellConst, cellText, cellTime (DateTime of slotTime), cellMicros (µs of a time slot), cellNum (a numeric slot)
	val   any
	txt   text
	slot  int
	asU64 bool
}

const (
	cellConst = iota
	cellText
	cellTime
	cellMicros
	cellNum
)

// trow is one typed row of a template.
type trow struct {
	table int // index in rows.All
	cells []cell
}

// template is one event shape.
type template struct {
	typ      string
	instance string // envelope source instance when it is not the gateway's (approver records)
	topic    string // kafka_topic the record goes to
	data     text
	typed    []trow
}

func tableIndex(t *rows.Table) int {
	for i, x := range rows.All {
		if x == t {
			return i
		}
	}
	panic("seed: table " + t.Name + " not in rows.All")
}

// newTemplate builds the template of an event of typ with data (which holds markers), keyed by envelope
// session slot sessSlot, mapping it with mapper (rows.Map, no JSON Schema: the markers are not valid ids).
func newTemplate(mapper *rows.Mapper, typ string, data any, sessSlot int, instance, topic string) (*template, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	canon, err := schemas.Canonical(raw)
	if err != nil {
		return nil, err
	}
	e := schemas.Event{V: schemas.Version, ID: strMarkers[slotID], Type: typ, Time: schemas.FormatTime(markerTime),
		Session: strMarkers[sessSlot], Seq: uint64(numMarkers[slotSeq]), Prev: schemas.GenesisPrev,
		Gateway: schemas.Source{Instance: strMarkers[slotInstance], Version: Version}, Data: canon}
	if instance != "" {
		e.Gateway.Instance = instance
	}
	if e.Hash, err = schemas.HashEvent(e); err != nil {
		return nil, err
	}
	rec, err := schemas.Marshal(e)
	if err != nil {
		return nil, err
	}
	r := markerRecord
	r.Topic, r.Value = topic, rec
	rs := mapper.Map(r)
	if len(rs) == 0 || rs[0].Table == &auditstore.DeadLetters {
		return nil, fmt.Errorf("seed: template %s maps to a dead letter: %v", typ, rs[0].Values[8])
	}
	t := &template{typ: typ, instance: instance, topic: topic, data: splitText(string(canon))}
	for _, row := range rs[1:] { // rs[0] is the events row, built per event
		tr := trow{table: tableIndex(row.Table)}
		for _, v := range row.Values {
			tr.cells = append(tr.cells, classify(v))
		}
		t.typed = append(t.typed, tr)
	}
	return t, nil
}

// classify finds the slot a template row value came from.
func classify(v any) cell {
	switch x := v.(type) {
	case string:
		if txt := splitText(x); !txt.constant() {
			return cell{kind: cellText, txt: txt}
		}
	case time.Time:
		if x.Equal(markerTime.Truncate(time.Second)) {
			return cell{kind: cellTime, slot: slotTime}
		}
	case uint64:
		for i, m := range timeMarkers {
			if !m.IsZero() && x == uint64(m.UnixMicro()) {
				return cell{kind: cellMicros, slot: i}
			}
		}
		for i, m := range numMarkers {
			if m != 0 && x == uint64(m) {
				return cell{kind: cellNum, slot: i, asU64: true}
			}
		}
	case int64:
		for i, m := range numMarkers {
			if m != 0 && x == m {
				return cell{kind: cellNum, slot: i}
			}
		}
	}
	return cell{kind: cellConst, val: v}
}

// checkNoMarkers panics if a constant still holds a marker inside an array (the templates never do).
func checkNoMarkers(t *template) error {
	for _, r := range t.typed {
		for _, c := range r.cells {
			if c.kind != cellConst {
				continue
			}
			if ss, ok := c.val.([]string); ok {
				for _, s := range ss {
					if !splitText(s).constant() {
						return fmt.Errorf("seed: template %s has a slot inside an array column", t.typ)
					}
				}
			}
		}
	}
	return nil
}

var _ = bytes.Equal
