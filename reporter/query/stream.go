package query

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/schemas"
)

// SessionsSQL finds the sessions the integrity check reads whole: every session with an event in the period
// and every session a checkpoint of the period (plus margin) lists.
const SessionsSQL = `SELECT session, count() AS events
FROM events
WHERE session IN (SELECT session FROM events WHERE ` + period + `)
   OR session IN (SELECT arrayJoin(head_sessions) FROM checkpoints FINAL WHERE time >= toDateTime({from}) AND time <= toDateTime({to_margin}))
GROUP BY session
ORDER BY session`

// RecordsSQL reads the raw records of a range of sessions (a primary-key range: only those granules are
// read). They are put in log order (topic, partition, offset) per session in Go: sorting ~1 KB records in
// ClickHouse 18.16 costs more than the read.
//
// It reads without FINAL (FINAL costs about twice the read here): copies of one event_id are collapsed in
// Go, and copies that differ are reported as an edit, which is stronger than FINAL's last-insert-wins view.
const RecordsSQL = `SELECT record, event_id, event_type, session, seq, prev, hash, time_us, source_instance, source_version, envelope_version,
       kafka_topic, kafka_partition, kafka_offset
FROM events
WHERE session >= ? AND session <= ?`

// CheckpointsSQL reads the gateway.checkpoint records of the period plus margin from the raw events, limited
// to the gateway runs' sessions (a primary-key lookup; a filter on event_type alone would read every record).
const CheckpointsSQL = `SELECT record
FROM events FINAL
WHERE session IN (SELECT DISTINCT session FROM checkpoints WHERE time >= toDateTime({from_margin}) AND time <= toDateTime({to_margin}))
  AND event_type = 'gateway.checkpoint' AND time >= toDateTime({from_margin}) AND time <= toDateTime({to_margin})`

// IntegritySQL is what the manifest records for the integrity report.
const IntegritySQL = CheckpointsSQL + ";\n\n" + SessionsSQL + ";\n\n" + RecordsSQL + "; -- per range of sessions"

// RenderMargin renders a template with the period and a margin around it.
func (p Period) RenderMargin(tmpl string, margin time.Duration) string {
	r := p.Render(tmpl)
	r = bytes.NewBufferString(r).String()
	return replaceAll(r, map[string]string{
		"{from_margin}": strconv.FormatInt(p.From.Add(-margin).Unix(), 10),
		"{to_margin}":   strconv.FormatInt(p.To.Add(margin).Unix(), 10),
	})
}

func replaceAll(s string, m map[string]string) string {
	for k, v := range m {
		s = string(bytes.ReplaceAll([]byte(s), []byte(k), []byte(v)))
	}
	return s
}

// Checkpoints returns the decoded gateway.checkpoint events of the period with margin.
func (db *DB) Checkpoints(ctx context.Context, p Period, margin time.Duration) ([]schemas.Event, error) {
	q := p.RenderMargin(CheckpointsSQL, margin)
	rows, err := db.conn.Query(ctx, q)
	if err != nil {
		return nil, db.wrap(err, q)
	}
	defer rows.Close()
	var out []schemas.Event
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return nil, err
		}
		e, err := schemas.Parse([]byte(rec))
		if err != nil {
			continue // the session's own chain check reports the record
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SessionCount is one session and how many events it has.
type SessionCount struct {
	Session string
	Events  uint64
}

// Sessions lists the sessions the integrity check reads.
func (db *DB) Sessions(ctx context.Context, p Period, margin time.Duration) ([]SessionCount, error) {
	q := p.RenderMargin(SessionsSQL, margin)
	rows, err := db.conn.Query(ctx, q)
	if err != nil {
		return nil, db.wrap(err, q)
	}
	defer rows.Close()
	var out []SessionCount
	for rows.Next() {
		var s SessionCount
		if err := rows.Scan(&s.Session, &s.Events); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Record is one raw event as the integrity check consumes it.
type Record struct {
	Event      schemas.Event // envelope (Data is set only when the record had to be decoded)
	Recomputed string        // hash recomputed from the raw record
}

type rawRow struct {
	record                                  string
	id, typ, session, prev, hash, inst, ver string
	seq, timeUS                             uint64
	v                                       uint8
	topic                                   string
	partition                               int32
	offset                                  int64
}

// StreamRecords calls fn for every event of the given sessions, grouped by session in log order, with the
// hash recomputed from the raw record. Sessions are read in ranges of about chunk events; hashing runs on
// all cores while the next range is read. progress, if not nil, gets the number of events done.
func (db *DB) StreamRecords(ctx context.Context, sessions []SessionCount, chunk int, fn func(Record) error, progress func(done int64)) error {
	if chunk <= 0 {
		chunk = 200000
	}
	want := make(map[string]bool, len(sessions))
	for _, s := range sessions {
		want[s.Session] = true
	}
	type rng struct{ lo, hi string }
	var ranges []rng
	for i := 0; i < len(sessions); {
		j, n := i, uint64(0)
		for j < len(sessions) && (j == i || n+sessions[j].Events <= uint64(chunk)) {
			n += sessions[j].Events
			j++
		}
		ranges = append(ranges, rng{sessions[i].Session, sessions[j-1].Session})
		i = j
	}
	type result struct {
		recs []Record
		err  error
	}
	// Two ranges are read and decoded at a time (ClickHouse reads one while Go hashes the other); results are
	// handed to fn in range order.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the reader if fn fails
	results := make(chan chan result, 2)
	go func() {
		defer close(results)
		for _, r := range ranges {
			ch := make(chan result, 1)
			select {
			case results <- ch:
			case <-ctx.Done():
				return
			}
			go func() {
				recs, err := db.readRange(ctx, r.lo, r.hi, want)
				ch <- result{recs, err}
			}()
		}
	}()
	var done int64
	for ch := range results {
		res := <-ch
		if res.err != nil {
			return res.err
		}
		for _, r := range res.recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		done += int64(len(res.recs))
		if progress != nil {
			progress(done)
		}
	}
	return ctx.Err()
}

func (db *DB) readRange(ctx context.Context, lo, hi string, want map[string]bool) ([]Record, error) {
	rows, err := db.conn.Query(ctx, RecordsSQL, lo, hi)
	if err != nil {
		return nil, db.wrap(err, RecordsSQL)
	}
	defer rows.Close()
	var raws []rawRow
	for rows.Next() {
		var r rawRow
		if err := rows.Scan(&r.record, &r.id, &r.typ, &r.session, &r.seq, &r.prev, &r.hash, &r.timeUS, &r.inst, &r.ver, &r.v, &r.topic, &r.partition, &r.offset); err != nil {
			return nil, db.wrap(err, RecordsSQL)
		}
		if want[r.session] {
			raws = append(raws, r)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(err, RecordsSQL)
	}
	// Log order within each session, sessions contiguous.
	sort.Slice(raws, func(i, j int) bool {
		a, b := &raws[i], &raws[j]
		if a.session != b.session {
			return a.session < b.session
		}
		if a.topic != b.topic {
			return a.topic < b.topic
		}
		if a.partition != b.partition {
			return a.partition < b.partition
		}
		if a.offset != b.offset {
			return a.offset < b.offset
		}
		if a.seq != b.seq {
			return a.seq < b.seq
		}
		return a.id < b.id
	})
	// Collapse replayed copies (same event_id, same record); flag copies that differ.
	conflict := map[int]string{}
	kept := raws[:0]
	for i := range raws {
		if n := len(kept); n > 0 && kept[n-1].id == raws[i].id && kept[n-1].session == raws[i].session {
			if kept[n-1].record != raws[i].record {
				conflict[n-1] = fmt.Sprintf("two different records stored for event %s (hash %.12s and %.12s): a copy was edited", raws[i].id, kept[n-1].hash, raws[i].hash)
			}
			continue
		}
		kept = append(kept, raws[i])
	}
	raws = kept
	out := make([]Record, len(raws))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	per := (len(raws) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*per, min((w+1)*per, len(raws))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := lo; i < hi; i++ {
				out[i], buf = decode(&raws[i], buf)
			}
		}()
	}
	wg.Wait()
	for i, why := range conflict {
		out[i].Recomputed = why
	}
	return out, nil
}

// decode rebuilds the envelope from the typed columns and checks that the raw record is exactly that
// envelope's canonical encoding (so the columns are what the hash covers); the hash is recomputed over the
// record without its hash member. A record that is not in that form is decoded in full instead.
func decode(r *rawRow, buf []byte) (Record, []byte) {
	e := schemas.Event{V: int(r.v), ID: r.id, Type: r.typ, Time: schemas.FormatTime(time.UnixMicro(int64(r.timeUS))), Session: r.session,
		Seq: r.seq, Prev: r.prev, Hash: r.hash, Gateway: schemas.Source{Instance: r.inst, Version: r.ver}}
	buf = buf[:0]
	buf = append(buf, `,"gateway":{"instance":`...)
	buf = appendString(buf, e.Gateway.Instance)
	buf = append(buf, `,"version":`...)
	buf = appendString(buf, e.Gateway.Version)
	buf = append(buf, `}`...)
	gw := len(buf)
	buf = append(buf, `,"hash":`...)
	buf = appendString(buf, e.Hash)
	tail := len(buf)
	buf = append(buf, `,"id":`...)
	buf = appendString(buf, e.ID)
	buf = append(buf, `,"prev":`...)
	buf = appendString(buf, e.Prev)
	buf = append(buf, `,"seq":`...)
	buf = strconv.AppendUint(buf, e.Seq, 10)
	buf = append(buf, `,"session":`...)
	buf = appendString(buf, e.Session)
	buf = append(buf, `,"time":`...)
	buf = appendString(buf, e.Time)
	buf = append(buf, `,"type":`...)
	buf = appendString(buf, e.Type)
	buf = append(buf, `,"v":`...)
	buf = strconv.AppendInt(buf, int64(e.V), 10)
	buf = append(buf, '}')
	rec := r.record
	const head = `{"data":`
	if len(rec) > len(head)+len(buf) && rec[:len(head)] == head && rec[len(rec)-len(buf):] == string(buf) {
		body := len(rec) - len(buf)
		h := sha256.New()
		h.Write([]byte(rec[:body]))
		h.Write(buf[:gw])
		h.Write(buf[tail:])
		e.Data = []byte(rec[len(head):body])
		return Record{Event: e, Recomputed: hex.EncodeToString(h.Sum(nil))}, buf
	}
	// Columns and record disagree, or the record is not canonical: the record is what the hash covers.
	pe, err := schemas.Parse([]byte(rec))
	if err != nil {
		return Record{Event: e, Recomputed: fmt.Sprintf("undecodable record: %v", err)}, buf
	}
	h, err := integrity.RecomputeRaw([]byte(rec), pe.Hash)
	if err != nil {
		h = "unhashable: " + err.Error()
	}
	if pe.Session != e.Session || pe.Seq != e.Seq || pe.Hash != e.Hash || pe.Prev != e.Prev || pe.ID != e.ID {
		// The typed columns were changed without the record (or the other way round): report it as an edit.
		h = fmt.Sprintf("columns differ from record (record: session %s seq %d hash %.12s)", pe.Session, pe.Seq, pe.Hash)
	}
	return Record{Event: e, Recomputed: h}, buf
}

// appendString writes s as the canonical encoding writes strings (schemas.Canonical).
func appendString(buf []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"':
			buf = append(buf, `\"`...)
		case '\\':
			buf = append(buf, `\\`...)
		case '\b':
			buf = append(buf, `\b`...)
		case '\t':
			buf = append(buf, `\t`...)
		case '\n':
			buf = append(buf, `\n`...)
		case '\f':
			buf = append(buf, `\f`...)
		case '\r':
			buf = append(buf, `\r`...)
		default:
			buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// SessionSQL reads one session's raw records in log order.
const SessionSQL = `SELECT record FROM events FINAL WHERE session = ? ORDER BY kafka_topic, kafka_partition, kafka_offset, seq`

// SessionEvents returns the events of one session (or of one approval id, for approvals-topic records),
// decoded from the raw records in log order.
func (db *DB) SessionEvents(ctx context.Context, session string) ([]schemas.Event, error) {
	rows, err := db.conn.Query(ctx, SessionSQL, session)
	if err != nil {
		return nil, db.wrap(err, SessionSQL)
	}
	defer rows.Close()
	var out []schemas.Event
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return nil, err
		}
		e, err := schemas.Parse([]byte(rec))
		if err != nil {
			return nil, fmt.Errorf("query: session %s holds an undecodable record: %w", session, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SessionsEventsSQL reads several sessions' raw records in one pass.
const SessionsEventsSQL = `SELECT record FROM events FINAL WHERE session IN (%s) ORDER BY session, kafka_topic, kafka_partition, kafka_offset, seq`

// SessionsEvents returns the events of many sessions (or approval ids) in one query, grouped by session in
// log order.
func (db *DB) SessionsEvents(ctx context.Context, sessions []string) (map[string][]schemas.Event, error) {
	out := map[string][]schemas.Event{}
	for len(sessions) > 0 {
		n := min(len(sessions), 500)
		lits := make([]string, n)
		for i, s := range sessions[:n] {
			lits[i] = quote(s)
		}
		sessions = sessions[n:]
		q := fmt.Sprintf(SessionsEventsSQL, strings.Join(lits, ", "))
		rows, err := db.conn.Query(ctx, q)
		if err != nil {
			return nil, db.wrap(err, q)
		}
		for rows.Next() {
			var rec string
			if err := rows.Scan(&rec); err != nil {
				rows.Close()
				return nil, err
			}
			e, err := schemas.Parse([]byte(rec))
			if err != nil {
				continue // the integrity report names undecodable records
			}
			out[e.Session] = append(out[e.Session], e)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, db.wrap(err, q)
		}
	}
	return out, nil
}

// quote renders s as a ClickHouse string literal.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}
