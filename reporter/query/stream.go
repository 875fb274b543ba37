package query

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/schemas"
)

// SessionsSQL finds the sessions the integrity check reads whole: every session with an event in the period
// and every session a checkpoint of the period (plus margin) lists. One set of both (UNION ALL) instead of
// two IN sets joined by OR: each of the sessions' events is looked up once, not twice (a fifth less
// ClickHouse CPU for this query at 10 M events, the same list; indexer/BENCHMARKS.md).
const SessionsSQL = `SELECT session, count() AS events
FROM events
WHERE session IN (SELECT session FROM events WHERE ` + period + `
                  UNION ALL SELECT arrayJoin(head_sessions) FROM checkpoints FINAL WHERE time >= toDateTime({from}) AND time <= toDateTime({to_margin}))
GROUP BY session
ORDER BY session`

// RecordsColumns is the integrity check's narrow projection: the raw record (what the hash covers; the
// envelope's members are parsed from its canonical tail, so the typed columns that repeat them are not
// read), the session column (the range key; a record that names another session is an edit) and the log
// position (topic, partition, offset) the chain is put in order by.
const RecordsColumns = `record, session, kafka_topic, kafka_partition, kafka_offset`

// RecordsSQL reads the raw records of a range of sessions (a primary-key range: only those granules are
// read). They are put in log order (topic, partition, offset) per session in Go: sorting ~1 KB records in
// ClickHouse 18.16 costs more than the read.
//
// It reads without FINAL (FINAL costs about twice the read here): copies of one event_id are collapsed in
// Go, and copies that differ are reported as an edit, which is stronger than FINAL's last-insert-wins view.
const RecordsSQL = `SELECT ` + RecordsColumns + `
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

// StreamCheckpoints calls fn with the decoded gateway.checkpoint events of the period with margin, in
// batches of up to batch (default 4096), so the caller (integrity.Checker.AddCheckpoints) need not hold
// them all decoded at once.
func (db *DB) StreamCheckpoints(ctx context.Context, p Period, margin time.Duration, batch int, fn func([]schemas.Event) error) error {
	if batch <= 0 {
		batch = 4096
	}
	q := p.RenderMargin(CheckpointsSQL, margin)
	rows, err := db.conn.Query(ctx, q)
	if err != nil {
		return db.wrap(err, q)
	}
	defer rows.Close()
	out := make([]schemas.Event, 0, batch)
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			return err
		}
		e, err := schemas.Parse([]byte(rec))
		if err != nil {
			continue // the session's own chain check reports the record
		}
		if out = append(out, e); len(out) == batch {
			if err := fn(out); err != nil {
				return err
			}
			out = out[:0]
		}
	}
	if err := rows.Err(); err != nil {
		return db.wrap(err, q)
	}
	if len(out) > 0 {
		return fn(out)
	}
	return nil
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

// Listed returns whether a session is in sessions (sorted by id, as Sessions returns them): the
// integrity.Config.Listed of a check fed by StreamRecords.
func Listed(sessions []SessionCount) func(string) bool {
	return func(id string) bool {
		i := sort.Search(len(sessions), func(i int) bool { return sessions[i].Session >= id })
		return i < len(sessions) && sessions[i].Session == id
	}
}

// Record is one raw event as the integrity check consumes it.
type Record struct {
	// Event is the envelope parsed from the raw record. Its strings may share the record's memory, so a
	// consumer that keeps one beyond the call clones it. Data is set only for the types the integrity check
	// decodes (DataTypes) and for records that had to be decoded in full.
	Event      schemas.Event
	Recomputed string // hash recomputed from the raw record
}

// DataTypes are the event types whose data StreamRecords passes on (integrity.Checker decodes them); the
// data of every other type is hashed in place and not copied.
var DataTypes = map[string]bool{schemas.TypeSessionStarted: true, schemas.TypeSessionReaped: true}

// Streaming defaults (docs/evidence.md, "Memory"): at most DefaultReaders ranges of about DefaultChunk
// events are read, decoded or consumed at a time, which bounds memory whatever the period's size.
const (
	DefaultChunk   = 100000
	DefaultReaders = 3
)

// sessionRange is a run of consecutive sessions (of the sorted list) read with one query.
type sessionRange struct {
	lo, hi string
	list   []SessionCount
}

// StreamRecords calls fn for every event of the given sessions (sorted by id, as Sessions returns them),
// grouped by session in ascending session order and in log order within a session, with the hash
// recomputed from the raw record. Sessions are read in ranges of about chunk events (default
// DefaultChunk), readers of them at once (default Config.Readers, else DefaultReaders): ClickHouse reads
// the next ranges while Go hashes the current one on all cores, and a range's records are dropped once fn
// has seen them, so memory is bounded by readers × chunk records whatever the period's size. progress, if
// not nil, gets the number of events done.
func (db *DB) StreamRecords(ctx context.Context, sessions []SessionCount, chunk int, fn func(Record) error, progress func(done int64)) error {
	if chunk <= 0 {
		chunk = DefaultChunk
	}
	readers := db.cfg.Readers
	if readers <= 0 {
		readers = DefaultReaders
	}
	if !sort.SliceIsSorted(sessions, func(i, j int) bool { return sessions[i].Session < sessions[j].Session }) {
		return fmt.Errorf("query: StreamRecords needs the sessions sorted by id (as Sessions returns them)")
	}
	type result struct {
		rows []row
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the readers if fn fails
	// slots bounds the ranges in flight (being read, decoded, or consumed); results hands them to fn in
	// range order.
	slots := make(chan struct{}, readers)
	results := make(chan chan result, readers)
	go func() {
		defer close(results)
		for i := 0; i < len(sessions); {
			j, n := i, uint64(0)
			for j < len(sessions) && (j == i || n+sessions[j].Events <= uint64(chunk)) {
				n += sessions[j].Events
				j++
			}
			r := sessionRange{lo: sessions[i].Session, hi: sessions[j-1].Session, list: sessions[i:j]}
			i = j
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			ch := make(chan result, 1)
			results <- ch // never blocks: at most readers results are outstanding, one per slot
			go func() {
				rows, err := db.readRange(ctx, r)
				ch <- result{rows, err}
			}()
		}
	}()
	var done int64
	for ch := range results {
		res := <-ch
		if res.err != nil {
			return res.err
		}
		for i := range res.rows {
			if err := fn(res.rows[i].rec); err != nil {
				return err
			}
		}
		done += int64(len(res.rows))
		<-slots
		if progress != nil {
			progress(done)
		}
	}
	return ctx.Err()
}

// row is one decoded raw record with its log position, until the range is put in log order.
type row struct {
	rec       Record
	sess      int32 // index of the session in the range's (sorted) list: compared instead of the id
	topic     int32 // index of the topic among the range's, ranked by name before sorting
	partition int32
	offset    int64
}

// arena holds the strings of a range's envelopes: one allocation per 256 KiB instead of several per event,
// and nothing the garbage collector has to scan. Strings handed out point into it; it is never written
// over, so they stay valid as long as they are referenced.
type arena struct{ cur []byte }

func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if cap(a.cur)-len(a.cur) < len(b) {
		a.cur = make([]byte, 0, max(256<<10, len(b)))
	}
	n := len(a.cur)
	a.cur = append(a.cur, b...)
	return unsafe.String(&a.cur[n], len(b))
}

// readRange reads one range of sessions and returns its events grouped by session in log order. Records
// are hashed as they arrive and only their envelopes are kept (in an arena), so a range costs about
// 400 bytes per event whatever the size of the records.
func (db *DB) readRange(ctx context.Context, rg sessionRange) ([]row, error) {
	want := make(map[string]int32, len(rg.list))
	var n uint64
	for i, s := range rg.list {
		want[s.Session] = int32(i)
		n += s.Events
	}
	var (
		rows   = make([]row, 0, n) // the session list's counts: no regrowth of a ~400 B-per-event slice
		ar     arena
		topics = map[string]int32{}
		names  []string
	)
	add := func(record, session, topic []byte, partition int32, offset int64) {
		si, ok := want[string(session)]
		if !ok {
			return
		}
		ti, ok := topics[string(topic)]
		if !ok {
			ti = int32(len(names))
			names = append(names, string(topic))
			topics[names[ti]] = ti
		}
		rows = append(rows, row{rec: decode(record, session, &ar), sess: si, topic: ti, partition: partition, offset: offset})
	}
	var err error
	if db.cfg.HTTPAddr != "" {
		err = db.readRangeHTTP(ctx, rg, add)
	} else {
		err = db.readRangeNative(ctx, rg, add)
	}
	if err != nil {
		return nil, err
	}
	// Log order within each session (topic by name, partition, offset), sessions contiguous and in the
	// list's ascending order; copies of one event (a replay) are adjacent. Integer keys: comparing the
	// session ids, which share long prefixes, was a sixth of the stage's CPU.
	rank := make([]int32, len(names))
	order := make([]int, len(names))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return names[order[a]] < names[order[b]] })
	for r, i := range order {
		rank[i] = int32(r)
	}
	for i := range rows {
		rows[i].topic = rank[rows[i].topic]
	}
	sorted := true
	for i := 1; i < len(rows) && sorted; i++ {
		sorted = !rowLess(&rows[i], &rows[i-1])
	}
	if !sorted {
		sort.Slice(rows, func(i, j int) bool { return rowLess(&rows[i], &rows[j]) })
	}
	// Collapse replayed copies (same event id in one session), in place; copies that differ (in content:
	// their recomputed hashes; or in their stated hash) are an edit.
	kept := rows[:0]
	var prev Record
	for i := range rows {
		r := rows[i].rec
		if n := len(kept); n > 0 && r.Event.ID != "" && kept[n-1].rec.Event.ID == r.Event.ID && kept[n-1].sess == rows[i].sess {
			if (prev.Recomputed != r.Recomputed || prev.Event.Hash != r.Event.Hash) && kept[n-1].rec.Recomputed == kept[n-1].rec.Event.Hash {
				kept[n-1].rec.Recomputed = fmt.Sprintf("two different records stored for event %s (hash %.12s and %.12s): a copy was edited", r.Event.ID, prev.Event.Hash, r.Event.Hash)
			}
			prev = r
			continue
		}
		prev = r
		kept = append(kept, rows[i])
	}
	return kept, nil
}

// rowLess orders rows by session, topic, partition, offset, then recomputed hash (copies of one record
// stay adjacent).
func rowLess(a, b *row) bool {
	if a.sess != b.sess {
		return a.sess < b.sess
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
	return a.rec.Recomputed < b.rec.Recomputed
}

// readRangeNative reads a range through the native protocol (clickhouse-go).
func (db *DB) readRangeNative(ctx context.Context, rg sessionRange, add func(record, session, topic []byte, partition int32, offset int64)) error {
	rows, err := db.conn.Query(ctx, RecordsSQL, rg.lo, rg.hi)
	if err != nil {
		return db.wrap(err, RecordsSQL)
	}
	defer rows.Close()
	var (
		record, session, topic string
		partition              int32
		offset                 int64
	)
	for rows.Next() {
		if err := rows.Scan(&record, &session, &topic, &partition, &offset); err != nil {
			return db.wrap(err, RecordsSQL)
		}
		add(bytesOf(record), bytesOf(session), bytesOf(topic), partition, offset)
	}
	if err := rows.Err(); err != nil {
		return db.wrap(err, RecordsSQL)
	}
	return nil
}

// bytesOf views s as bytes, read only.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// maxRecord bounds one string of a RowBinary row: a length beyond it means the stream is not RowBinary
// (ClickHouse appends an exception's text to a response it had started).
const maxRecord = 64 << 20

// readRangeHTTP reads a range through ClickHouse's HTTP interface in RowBinary, each row into reused
// buffers: the native client allocates every block's strings anew (about five times the data, with its
// buffer growth), which dominated the integrity stage's allocation and garbage collection.
func (db *DB) readRangeHTTP(ctx context.Context, rg sessionRange, add func(record, session, topic []byte, partition int32, offset int64)) error {
	q := strings.Replace(strings.Replace(RecordsSQL, "?", quote(rg.lo), 1), "?", quote(rg.hi), 1) + "\nFORMAT RowBinary"
	// GET (read-only for ClickHouse, and idempotent for net/http, which retries it on a kept-alive
	// connection the server closed meanwhile: ClickHouse's keep_alive_timeout is 3 s).
	u := "http://" + db.cfg.HTTPAddr + "/?database=" + url.QueryEscape(db.cfg.Database) + "&query=" + url.QueryEscape(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("query: clickhouse.http_addr %q: %w", db.cfg.HTTPAddr, err)
	}
	req.Header.Set("X-ClickHouse-User", db.cfg.User)
	req.Header.Set("X-ClickHouse-Key", db.cfg.Password)
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w at clickhouse.http_addr %s: %v: check that ClickHouse's HTTP interface listens there", ErrUnreachable, db.cfg.HTTPAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("query: ClickHouse HTTP %s at %s (user %s, database %s): %s (in: %s…)", resp.Status, db.cfg.HTTPAddr, db.cfg.User, db.cfg.Database, bytes.TrimSpace(msg), strings.SplitN(RecordsSQL, "\n", 2)[0])
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(resp.Body)
	defer func() { br.Reset(nil); readers.Put(br) }()
	if n, err := scanRowBinary(br, add); err != nil {
		return fmt.Errorf("query: ClickHouse HTTP at %s: row %d of sessions %s…%s is not RowBinary (%v): the query failed while streaming; rerun, and see ClickHouse's log", db.cfg.HTTPAddr, n, rg.lo, rg.hi, err)
	}
	return nil
}

// scanRowBinary calls add for each row (record, session, topic, partition, offset) of a RowBinary stream
// until its end, and returns the number of rows read. A row that fits in br's buffer is parsed where it
// lies (no copy of the record; the slices are valid only during add); a longer one is copied into reused
// buffers.
func scanRowBinary(br *bufio.Reader, add func(record, session, topic []byte, partition int32, offset int64)) (int, error) {
	var record, session, topic []byte
	var num [8]byte
	for n := 0; ; n++ {
		b, err := br.Peek(1)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		b, _ = br.Peek(br.Buffered())
		for {
			row, size, need, err := parseRowBinary(b)
			if err != nil {
				return n, err
			}
			if size > 0 {
				add(row.record, row.session, row.topic, row.partition, row.offset)
				_, _ = br.Discard(size)
				break
			}
			if need <= br.Size() {
				if b, err = br.Peek(need); err != nil {
					return n, fmt.Errorf("row cut short at %d bytes: %w", len(b), err)
				}
				continue
			}
			// Longer than the buffer: read it into reused buffers.
			if record, err = readStr(br, record); err == nil {
				if session, err = readStr(br, session); err == nil {
					if topic, err = readStr(br, topic); err == nil {
						if _, err = io.ReadFull(br, num[:4]); err == nil {
							partition := int32(binary.LittleEndian.Uint32(num[:4]))
							if _, err = io.ReadFull(br, num[:8]); err == nil {
								add(record, session, topic, partition, int64(binary.LittleEndian.Uint64(num[:8])))
								break
							}
						}
					}
				}
			}
			return n, err
		}
	}
}

// rowBinaryRow is one row of RecordsColumns in RowBinary, its strings pointing into the parsed bytes.
type rowBinaryRow struct {
	record, session, topic []byte
	partition              int32
	offset                 int64
}

// parseRowBinary parses the row at the start of b: its size when b holds all of it, else 0 and how many
// bytes it needs at least (exactly, once its strings' lengths are in b). A string longer than maxRecord
// is an error (the stream is not RowBinary: ClickHouse appends an exception's text to a response it had
// started).
func parseRowBinary(b []byte) (row rowBinaryRow, size, need int, err error) {
	p := 0
	str := func() ([]byte, bool) {
		l, k := binary.Uvarint(b[p:])
		switch {
		case k < 0 || l > maxRecord:
			err = fmt.Errorf("string of %d bytes", l)
			return nil, false
		case k == 0:
			need = len(b) + 1
			return nil, false
		case uint64(len(b)-p-k) < l:
			need = p + k + int(l)
			return nil, false
		}
		v := b[p+k : p+k+int(l)]
		p += k + int(l)
		return v, true
	}
	var ok bool
	if row.record, ok = str(); !ok {
		return row, 0, need, err
	}
	if row.session, ok = str(); !ok {
		return row, 0, need, err
	}
	if row.topic, ok = str(); !ok {
		return row, 0, need, err
	}
	if len(b)-p < 12 {
		return row, 0, p + 12, nil
	}
	row.partition = int32(binary.LittleEndian.Uint32(b[p:]))
	row.offset = int64(binary.LittleEndian.Uint64(b[p+4:]))
	return row, p + 12, 0, nil
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 1<<20) }}

var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8, DisableCompression: true}}

// readStr reads a RowBinary String (LEB128 length, bytes) into buf.
func readStr(br *bufio.Reader, buf []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return buf, err
	}
	if n > maxRecord {
		return buf, fmt.Errorf("string of %d bytes", n)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n, n+n/4)
	}
	buf = buf[:n]
	_, err = io.ReadFull(br, buf)
	return buf, err
}

const recordHead = `{"data":`

// gatewayMember starts the envelope's tail in a canonical record: every member after "data" is a string
// or a number, in which `,"` cannot occur unescaped, so the tail starts at its last occurrence.
const gatewayMember = `,"gateway":{"instance":`

// tailWindow is where the tail is looked for first (a forward search is several times faster than
// strings.LastIndex): the envelope's members after data take about 330 bytes with the usual names.
const tailWindow = 640

// decode parses the envelope from the raw record's canonical tail (data first, then gateway, hash, id,
// prev, seq, session, time, type, v, as schemas.Marshal writes them) and recomputes the hash over the
// record without its hash member: no decoding of the data and no copy of the record, only of the tail's
// strings (into ar). A record not in that form, or whose fast hash differs from the one it states, is
// decoded in full and re-encoded (integrity.RecomputeRaw), so only a change of content counts as an edit.
// A record whose session differs from the session column it was selected by is reported as an edit, on
// the column's session. record and session are only read during the call.
func decode(record, session []byte, ar *arena) Record {
	rec := unsafe.String(unsafe.SliceData(record), len(record)) // a view for parsing; copied where kept
	if e, at, hashAt, hashEnd := findTail(rec); at >= 0 && e.Session == string(session) {
		h := sha256.New()
		h.Write(record[:hashAt])
		h.Write(record[hashEnd:])
		var sum [sha256.Size]byte
		if digestIs(h.Sum(sum[:0]), e.Hash) {
			// Keep copies: the tail's strings into the arena, data only when needed.
			tail := ar.str(record[at:])
			base := uintptr(unsafe.Pointer(unsafe.StringData(rec))) + uintptr(at)
			rebase := func(s string) string {
				if s == "" {
					return ""
				}
				off := uintptr(unsafe.Pointer(unsafe.StringData(s))) - base
				return tail[off : off+uintptr(len(s))]
			}
			e.ID, e.Type, e.Time, e.Session, e.Prev, e.Hash = rebase(e.ID), rebase(e.Type), rebase(e.Time), rebase(e.Session), rebase(e.Prev), rebase(e.Hash)
			e.Gateway.Instance, e.Gateway.Version = rebase(e.Gateway.Instance), rebase(e.Gateway.Version)
			if DataTypes[e.Type] {
				e.Data = append([]byte(nil), record[len(recordHead):at]...)
			}
			return Record{Event: e, Recomputed: e.Hash} // equal to the recomputed digest: no second string
		}
	}
	// Not canonical, edited, or the columns disagree: the record is what the hash covers.
	raw := append([]byte(nil), record...)
	pe, err := schemas.Parse(raw)
	if err != nil {
		return Record{Event: schemas.Event{Session: string(session)}, Recomputed: fmt.Sprintf("undecodable record: %v", err)}
	}
	h, err := integrity.RecomputeRaw(raw, pe.Hash)
	if err != nil {
		h = "unhashable: " + err.Error()
	}
	if pe.Session != string(session) {
		// The session column was changed without the record (or the other way round): report it as an edit,
		// on the chain the row was selected as.
		h = fmt.Sprintf("columns differ from record (record: session %s seq %d hash %.12s)", pe.Session, pe.Seq, pe.Hash)
		pe.Session = string(session)
	}
	return Record{Event: pe, Recomputed: h}
}

// digestIs reports whether stated is sum in lower-case hex, the canonical digest's form (an upper-case
// digest is not what the producer wrote: the record goes the slow way). Encoding the sum and comparing
// replaces decoding the stated digest and scanning it for upper case.
func digestIs(sum []byte, stated string) bool {
	if len(stated) != 2*sha256.Size || len(sum) != sha256.Size {
		return false
	}
	var enc [2 * sha256.Size]byte
	hex.Encode(enc[:], sum)
	return string(enc[:]) == stated
}

// findTail parses the envelope's tail of a record that begins with {"data":: the envelope, where the tail
// starts (-1 when there is none in canonical form) and the bounds of its hash member.
func findTail(rec string) (e schemas.Event, at, hashAt, hashEnd int) {
	if !strings.HasPrefix(rec, recordHead) {
		return e, -1, 0, 0
	}
	// The first occurrence in the window that parses to the record's end is the last one: a parsed tail
	// holds no unescaped quote, so no later `,"gateway"` can be inside it.
	for off := max(len(recordHead), len(rec)-tailWindow); off < len(rec); {
		j := strings.Index(rec[off:], gatewayMember)
		if j < 0 {
			break
		}
		if e, hashAt, hashEnd, ok := parseTail(rec, off+j); ok {
			return e, off + j, hashAt, hashEnd
		}
		off += j + 1
	}
	if i := strings.LastIndex(rec, gatewayMember); i >= len(recordHead) && i < max(len(recordHead), len(rec)-tailWindow) {
		if e, hashAt, hashEnd, ok := parseTail(rec, i); ok {
			return e, i, hashAt, hashEnd
		}
	}
	return schemas.Event{}, -1, 0, 0
}

// parseTail reads the envelope members after "data" from a canonical record whose tail starts at i (a
// gatewayMember). Strings with escapes are left to the full decoder (ok false); so is anything not exactly
// in canonical form. hashAt and hashEnd bound the `,"hash":"…"` member.
func parseTail(rec string, i int) (e schemas.Event, hashAt, hashEnd int, ok bool) {
	if i < 0 || !strings.HasPrefix(rec[i:], gatewayMember) {
		return e, 0, 0, false
	}
	p := tailParser{s: rec, i: i + len(gatewayMember), ok: true}
	e.Gateway.Instance = p.str()
	p.lit(`,"version":`)
	e.Gateway.Version = p.str()
	p.lit(`}`)
	hashAt = p.i
	p.lit(`,"hash":`)
	e.Hash = p.str()
	hashEnd = p.i
	p.lit(`,"id":`)
	e.ID = p.str()
	p.lit(`,"prev":`)
	e.Prev = p.str()
	p.lit(`,"seq":`)
	e.Seq = p.uint()
	p.lit(`,"session":`)
	e.Session = p.str()
	p.lit(`,"time":`)
	e.Time = p.str()
	p.lit(`,"type":`)
	e.Type = p.str()
	p.lit(`,"v":`)
	e.V = int(p.uint())
	p.lit(`}`)
	return e, hashAt, hashEnd, p.ok && p.i == len(rec)
}

// tailParser reads canonical JSON members; the first mismatch clears ok and later calls return zero values.
type tailParser struct {
	s  string
	i  int
	ok bool
}

func (p *tailParser) lit(l string) {
	if p.ok && strings.HasPrefix(p.s[p.i:], l) {
		p.i += len(l)
		return
	}
	p.ok = false
}

// str reads a string without escapes or control characters (canonical strings with them go the slow way).
func (p *tailParser) str() string {
	if !p.ok || p.i >= len(p.s) || p.s[p.i] != '"' {
		p.ok = false
		return ""
	}
	for j := strEnd(p.s, p.i+1); j < len(p.s); j++ {
		switch c := p.s[j]; {
		case c == '"':
			v := p.s[p.i+1 : j]
			p.i = j + 1
			return v
		case c == '\\' || c < 0x20:
			p.ok = false
			return ""
		}
	}
	p.ok = false
	return ""
}

// strEnd skips, eight bytes at a time, the bytes from i on that are none of the quote, the backslash and
// the control characters str stops at, and returns where str's byte loop must resume (at most the first
// such byte's word). Tail parsing byte by byte was a twentieth of the stage's CPU.
func strEnd(s string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		q, b := x^(ones*'"'), x^(ones*'\\')
		// A zero byte in q or b (a quote or backslash in x), or a byte of x below 0x20: exact as to whether
		// any exists, which is all that is needed here.
		if ((q-ones)&^q|(b-ones)&^b|(x-ones*0x20)&^x)&highs != 0 {
			break
		}
	}
	return i
}

// uint reads a canonical non-negative integer (no sign, no leading zero).
func (p *tailParser) uint() uint64 {
	if !p.ok {
		return 0
	}
	j := p.i
	for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
		j++
	}
	if j == p.i || (j-p.i > 1 && p.s[p.i] == '0') {
		p.ok = false
		return 0
	}
	v, err := strconv.ParseUint(p.s[p.i:j], 10, 64)
	if err != nil {
		p.ok = false
		return 0
	}
	p.i = j
	return v
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
