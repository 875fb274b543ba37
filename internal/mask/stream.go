package mask

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
)

// Catalog resolves result columns to their source table and column. The gateway implements it with a
// cached pg_catalog lookup; the masker never queries the database itself. table may be schema-qualified
// ("public.cards"); see Masker.Tagged. ok is false for unknown OIDs (then only content scanning and the
// result column name decide).
type Catalog interface {
	Column(tableOID uint32, attnum uint16) (table, column string, ok bool)
}

// Sample is a capped sample of the masked rows of one statement. Its fields match schemas.Sample, so
// schemas.Sample(s) converts it.
type Sample struct {
	Columns   []string   `json:"columns"`
	Rows      [][]string `json:"rows"`
	Truncated bool       `json:"truncated,omitempty"`
}

// Count keys for masked values outside result columns.
const (
	CountError          = "error"
	CountNotice         = "notice"
	CountNotification   = "notification"
	CountParameter      = "parameter"
	CountRowDescription = "rowdescription"
	CountCopy           = "copy"
	CountFunction       = "function"
)

// column is what the stream knows about one result column.
type column struct {
	name   string
	oid    uint32
	format int16
	tagged bool
}

// copy states
const (
	copyNone = iota
	copyText
	copyBinary
)

// binary COPY walker states
const (
	binHeader   = iota // signature, flags, extension
	binTuple           // int16 field count
	binFieldLen        // int32 field length
	binField           // field bytes
	binTrailer         // after the -1 trailer: nothing more is expected
)

var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// maxCarry is how many trailing digit-run bytes of a text CopyData are kept to catch a PAN cut at a
// message boundary (19 digits and 18 separators, plus track-2 room).
const maxCarry = 48

// maxGuess is the longest binary COPY field that is still collected across CopyData messages for the
// int8/float8/numeric guess: a numeric holding a 19-digit PAN with a scale of up to 30 fits easily.
const maxGuess = 64

// Stream masks the backend → client messages of one client connection. It is not safe for concurrent
// use: call it from the goroutine that relays upstream messages.
//
// Protocol state it keeps: the current row description (set by a 'T' message or by SetRowDescription),
// the COPY format (set by 'H'/'W'), a walker for binary COPY, and a small carry-over for a digit run cut
// at a text CopyData boundary.
type Stream struct {
	m    *Masker
	cat  Catalog
	cols []column
	desc bool // cols describe the DataRows that follow

	copyMode  int
	copyCols  []column // from SetCopyColumns; nil when unknown
	bin       int      // binary COPY walker state
	binNeed   int      // bytes still needed in the current state
	binHdr    [19]byte // header bytes collected so far
	binHdrN   int
	binField  int // field index within the tuple
	binFields int // fields in the tuple
	binLen    int // length of the current field
	binHit    bool
	binPart   [4]byte // a field count or length cut at a message end
	binPartN  int
	binGuess  [maxGuess]byte // a short field cut across messages, collected for the binary guess
	carry     [maxCarry]byte
	carryN    int

	counts      map[string]int
	sample      Sample
	sampleBytes int
}

// NewStream returns a Stream for one client connection. cat may be nil (no column tags by table).
func (m *Masker) NewStream(cat Catalog) *Stream {
	return &Stream{m: m, cat: cat, counts: map[string]int{}}
}

// Message masks one backend message in place and returns how many values it masked. typ is the pgwire
// message type byte, body the bytes after the 4-byte length. The body length never changes, so the
// gateway can forward the original frame. Malformed bodies never panic: they are scanned whole.
//
// Handled: 'T' RowDescription (column names masked; table OID and attnum looked up in the Catalog),
// 'D' DataRow, 'H' CopyOutResponse, 'W' CopyBothResponse, 'd' CopyData, 'c' CopyDone, 'E' ErrorResponse,
// 'N' NoticeResponse, 'A' NotificationResponse, 'S' ParameterStatus, 'V' FunctionCallResponse.
// Other messages carry no values and are left alone (authentication exchanges in particular).
func (s *Stream) Message(typ byte, body []byte) int {
	switch typ {
	case 'T':
		return s.rowDescription(body, nil, true)
	case 'D':
		return s.dataRow(body)
	case 'H', 'W':
		s.copyResponse(body)
		return 0
	case 'd':
		return s.copyData(body)
	case 'c':
		s.copyMode, s.carryN = copyNone, 0
		return 0
	case 'E':
		return s.count(CountError, s.m.textScan(body, s.m.fill, nil))
	case 'N':
		return s.count(CountNotice, s.m.textScan(body, s.m.fill, nil))
	case 'A': // int32 pid, channel, payload: the pid bytes must not join a digit run
		if len(body) < 4 {
			return 0
		}
		return s.count(CountNotification, s.m.textScan(body[4:], s.m.fill, nil))
	case 'S':
		return s.count(CountParameter, s.m.textScan(body, s.m.fill, nil))
	case 'V': // int32 length, value
		if len(body) < 4 {
			return 0
		}
		return s.count(CountFunction, s.m.textScan(body[4:], s.m.fill, nil))
	}
	return 0
}

func (s *Stream) count(key string, n int) int {
	if n > 0 {
		s.counts[key] += n
	}
	return n
}

// SetRowDescription tells the stream which row description the next DataRows follow, for the extended
// protocol where the 'T' came from an earlier Describe (statement) and the formats from Bind. body is the
// RowDescription body as received (it is not modified); resultFormats are the Bind message's
// result-column format codes (none: all text; one: applies to all; otherwise one per column). Pass nil
// resultFormats to use the codes in body (Describe of a portal, or a simple query).
//
// The gateway must call it before relaying the results of an Execute whose portal's row description the
// stream did not just see: after Bind of a cached prepared statement, and whenever the 'T' that preceded
// the DataRows belonged to another statement. Without it the stream masks by the last 'T' it saw, which
// is wrong if the formats differ.
func (s *Stream) SetRowDescription(body []byte, resultFormats []int16) {
	s.rowDescription(body, resultFormats, false)
}

// ForgetRowDescription makes the stream treat following DataRows as of unknown layout (every value
// scanned as text, then read as float8/int8, numeric, array or record where the bytes fit), e.g. after an
// Execute whose description the gateway lost.
func (s *Stream) ForgetRowDescription() { s.desc = false }

// SetCopyColumns names the columns of a COPY … TO STDOUT the gateway parsed from the statement, so that
// tagged columns are masked whole in text-format COPY. table may be schema-qualified. Call it before the
// 'H' message; it applies until the next CopyDone. Without it COPY data is content-scanned only.
func (s *Stream) SetCopyColumns(table string, columns []string) {
	s.copyCols = s.copyCols[:0]
	for _, c := range columns {
		s.copyCols = append(s.copyCols, column{name: c, tagged: s.m.Tagged(table, c)})
	}
}

// rowDescription parses a 'T' body; mask says whether column names are masked in place.
func (s *Stream) rowDescription(body []byte, formats []int16, mask bool) int {
	s.desc = false
	s.cols = s.cols[:0]
	if len(body) < 2 {
		return 0
	}
	nf := int(int16(binary.BigEndian.Uint16(body)))
	if nf < 0 {
		return 0
	}
	p, masked := 2, 0
	for k := 0; k < nf; k++ {
		z := bytes.IndexByte(body[p:], 0)
		if z < 0 || p+z+1+18 > len(body) {
			s.cols = s.cols[:0]
			if mask {
				masked += s.m.scan(body[p:], s.m.fill, nil)
			}
			return s.count(CountRowDescription, masked)
		}
		name := body[p : p+z]
		var cname string
		if mask {
			masked += s.m.textScan(name, s.m.fill, nil)
			cname = string(name)
		} else { // the body stays as it is, but no full PAN may reach counts or the sample
			cname, _ = s.m.Stored(string(name))
		}
		f := body[p+z+1:]
		c := column{
			name:   cname,
			oid:    binary.BigEndian.Uint32(f[6:]),
			format: int16(binary.BigEndian.Uint16(f[16:])),
		}
		c.tagged = s.m.nameTagged(lower(c.name))
		if tableOID, attnum := binary.BigEndian.Uint32(f), binary.BigEndian.Uint16(f[4:]); !c.tagged && tableOID != 0 && s.cat != nil {
			if t, col, ok := s.cat.Column(tableOID, attnum); ok {
				c.tagged = s.m.Tagged(t, col)
			}
		}
		s.cols = append(s.cols, c)
		p += z + 1 + 18
	}
	switch {
	case formats == nil:
	case len(formats) == 0:
		for k := range s.cols {
			s.cols[k].format = 0
		}
	case len(formats) == 1:
		for k := range s.cols {
			s.cols[k].format = formats[0]
		}
	case len(formats) == len(s.cols):
		for k := range s.cols {
			s.cols[k].format = formats[k]
		}
	default: // PostgreSQL would reject this Bind; do not guess
		s.cols = s.cols[:0]
		return s.count(CountRowDescription, masked)
	}
	s.desc = true
	return s.count(CountRowDescription, masked)
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for k := i; k < len(b); k++ {
				if c := b[k]; c >= 'A' && c <= 'Z' {
					b[k] = c + 32
				}
			}
			return string(b)
		}
	}
	return s
}

// dataRow masks a 'D' body: int16 column count, then per column int32 length (-1 NULL) and bytes.
func (s *Stream) dataRow(body []byte) int {
	if len(body) < 2 {
		return 0
	}
	nc := int(int16(binary.BigEndian.Uint16(body)))
	known := s.desc && nc == len(s.cols)
	total := 0
	p := 2
	sampling := s.sampling()
	var row []string
	if sampling {
		row = make([]string, 0, max(nc, 0))
	}
	for k := 0; k < nc; k++ {
		if p+4 > len(body) {
			return total + s.malformedRow(body)
		}
		l := int32(binary.BigEndian.Uint32(body[p:]))
		p += 4
		if l == -1 {
			if sampling {
				row = append(row, `\N`)
			}
			continue
		}
		if l < 0 || int(l) > len(body)-p {
			return total + s.malformedRow(body)
		}
		v := body[p : p+int(l)]
		p += int(l)
		var n int
		if known {
			c := &s.cols[k]
			switch c.format {
			case 0:
				if bytes.IndexByte(v, 0) >= 0 && !c.tagged {
					n = s.m.guessValue(v) // binary bytes under a text format code
					break
				}
				if fixedOID(c.oid) && !c.tagged {
					// the text form of a uuid, timestamp, int4… cannot hold a PAN; scanning it could
					// only corrupt it (a UUID's "6938-49626397" passes IIN + Luhn)
					break
				}
				switch {
				case c.oid == oidBytea:
					n = s.m.byteaText(v, c.tagged)
				case c.oid == oidJSON || c.oid == oidJSONB:
					n = s.m.jsonValue(v, c.tagged, nil)
				case c.oid == oidFloat8 || c.oid == oidFloat4:
					n = s.m.floatText(v, c.tagged)
				case c.oid == oidMoney:
					n = s.m.moneyText(v, c.tagged)
				case c.oid == oidMoneyArray:
					n = s.m.moneyArrayText(v, c.tagged)
				case numericOID(c.oid):
					n = s.m.textValue(v, '0', c.tagged, nil)
				default:
					n = s.m.textValue(v, s.m.fill, c.tagged, nil)
				}
			case 1:
				n = s.m.binaryValue(c.oid, v, c.tagged, 0, nil)
			default:
				n = s.m.scan(v, s.m.fill, nil)
			}
		} else {
			n = s.m.guessValue(v)
		}
		if n > 0 {
			total += s.count(s.colKey(k, known), n)
		}
		if sampling {
			row = append(row, s.render(k, known, v))
		}
	}
	if p != len(body) { // trailing bytes a client might still read
		return total + s.malformedRow(body)
	}
	if sampling {
		s.addSampleRow(row, known)
	} else if s.sample.Columns != nil || len(s.sample.Rows) > 0 {
		s.sample.Truncated = true
	}
	return total
}

// malformedRow scans a DataRow whose framing does not add up as one text: values may have been cut
// anywhere, so the whole body after the column count is scanned (values already masked stay masked).
func (s *Stream) malformedRow(body []byte) int {
	if len(body) <= 2 {
		return 0
	}
	return s.count("$malformed", s.m.scan(body[2:], s.m.fill, nil))
}

func (s *Stream) colKey(k int, known bool) string {
	if known && k < len(s.cols) {
		return s.cols[k].name
	}
	return "$" + strconv.Itoa(k+1)
}

// sampling reports whether the next row still goes into the sample.
func (s *Stream) sampling() bool {
	return len(s.sample.Rows) < s.m.cfg.SampleRows && s.sampleBytes < s.m.cfg.SampleBytes
}

func (s *Stream) render(k int, known bool, v []byte) string {
	if known && s.cols[k].format == 1 {
		return binaryString(s.cols[k].oid, v)
	}
	return string(v)
}

// addSampleRow appends a rendered row, cutting values to the byte budget. The sample is stored (in the
// query.executed event), so every value and column name passes the storage detector ([Masker.Stored]):
// a value of an untagged column the stream let through (a PAN inside a longer digit run, behind
// separators, hex or base64) is masked here.
func (s *Stream) addSampleRow(row []string, known bool) {
	if s.sample.Columns == nil {
		s.sample.Columns = []string{}
		if known {
			for _, c := range s.cols {
				name, _ := s.m.Stored(c.name)
				s.sample.Columns = append(s.sample.Columns, name)
			}
		}
	}
	for i, v := range row {
		v, _ = s.m.Stored(v)
		row[i] = v
		left := s.m.cfg.SampleBytes - s.sampleBytes
		if len(v) > left {
			row[i] = v[:max(left, 0)]
			s.sample.Truncated = true
		}
		s.sampleBytes += len(row[i])
	}
	s.sample.Rows = append(s.sample.Rows, row)
}

// copyResponse handles 'H'/'W': int8 overall format, int16 column count, int16 formats.
func (s *Stream) copyResponse(body []byte) {
	s.carryN = 0
	s.copyMode = copyText
	if len(body) >= 1 && body[0] == 1 {
		s.copyMode = copyBinary
		s.bin, s.binHdrN, s.binPartN = binHeader, 0, 0
	}
}

// copyData masks a 'd' body according to the COPY format.
func (s *Stream) copyData(body []byte) int {
	if s.copyMode == copyBinary {
		return s.count(CountCopy, s.binaryCopy(body))
	}
	n := s.textCopy(body)
	return s.count(CountCopy, n)
}

// textCopy scans text or CSV COPY data. PostgreSQL sends one CopyData per row, so a PAN cut across two
// messages needs a non-PostgreSQL upstream; still, the trailing digit run of each message is carried
// over: if it and the start of the next message form a PAN, every digit of that PAN in the current
// message is hidden (the part already sent cannot be recalled; see docs/masking.md).
func (s *Stream) textCopy(body []byte) int {
	n := 0
	if s.carryN > 0 {
		n += s.boundary(body)
	}
	if len(s.copyCols) > 0 {
		n += s.taggedCopyFields(body)
	}
	n += s.m.textScan(body, s.m.fill, nil)
	s.keepCarry(body)
	if s.sampling() { // PostgreSQL sends one row per CopyData: sample it as tab-separated fields
		line := strings.TrimSuffix(string(body), "\n")
		if s.sample.Columns == nil {
			s.sample.Columns = []string{}
			for _, c := range s.copyCols {
				s.sample.Columns = append(s.sample.Columns, c.name)
			}
		}
		s.addSampleRow(strings.Split(line, "\t"), false)
	} else if len(s.sample.Rows) > 0 {
		s.sample.Truncated = true
	}
	return n
}

// keepCarry keeps the trailing run of body (digits and single separators) for the next message.
func (s *Stream) keepCarry(body []byte) {
	e := len(body)
	b := e
	for b > 0 && e-b < maxCarry && (isDigit(body[b-1]) || ((body[b-1] == ' ' || body[b-1] == '-') && b < e && isDigit(body[b]))) {
		b--
	}
	if b < e && isDigit(body[e-1]) {
		s.carryN = copy(s.carry[:], body[b:e])
	} else {
		s.carryN = 0
	}
}

// boundary checks the carried run joined with the head of body.
func (s *Stream) boundary(body []byte) int {
	h := 0
	for h < len(body) && h < maxCarry && (isDigit(body[h]) || ((body[h] == ' ' || body[h] == '-') && h+1 < len(body) && isDigit(body[h+1]))) {
		h++
	}
	if h == 0 {
		return 0
	}
	var joined [2 * maxCarry]byte
	c := copy(joined[:], s.carry[:s.carryN])
	copy(joined[c:], body[:h])
	j := joined[:c+h]
	if s.m.scan(j, s.m.fill, nil) == 0 {
		return 0
	}
	// a PAN spans the boundary: hide every digit of the head run in this message
	for k := 0; k < h; k++ {
		if isDigit(body[k]) {
			body[k] = s.m.fill
		}
	}
	return 1
}

// taggedCopyFields masks whole fields of tagged columns in text-format COPY rows (tab-delimited).
// CSV and custom delimiters are content-scanned only.
func (s *Stream) taggedCopyFields(body []byte) int {
	n, col, start := 0, 0, 0
	for i := 0; i <= len(body); i++ {
		if i == len(body) || body[i] == '\t' || body[i] == '\n' {
			if col < len(s.copyCols) && s.copyCols[col].tagged && i > start && string(body[start:i]) != `\N` {
				n += s.m.maskValue(body[start:i], s.m.fill, nil)
			}
			col++
			if i < len(body) && body[i] == '\n' {
				col = 0
			}
			start = i + 1
		}
	}
	return n
}

// binaryCopy walks binary COPY data: the 19-byte header (signature, flags, extension length) plus
// extension, then tuples of int16 field count and int32-length-prefixed fields, ending with a -1 count.
// Fields are text-scanned (binary COPY carries no type OIDs); fields of tagged columns are masked whole.
// Fields or headers cut across messages are scanned byte-wise where they fall; if the framing breaks,
// the rest of the COPY is scanned conservatively.
func (s *Stream) binaryCopy(body []byte) int {
	n, p := 0, 0
	for p < len(body) {
		switch s.bin {
		case binHeader:
			for p < len(body) && s.binHdrN < len(s.binHdr) {
				s.binHdr[s.binHdrN] = body[p]
				s.binHdrN++
				p++
			}
			if s.binHdrN < len(s.binHdr) {
				return n
			}
			if !bytes.Equal(s.binHdr[:11], copySignature) {
				return n + s.binaryCopyLost(body[p:])
			}
			ext := int(int32(binary.BigEndian.Uint32(s.binHdr[15:])))
			if ext < 0 {
				return n + s.binaryCopyLost(body[p:])
			}
			s.bin, s.binNeed = binField, ext // skip the extension area like a field
			s.binField, s.binFields = -1, 0
		case binTuple:
			h, q, ok := s.binInt(body, p, 2)
			if p = q; !ok {
				return n
			}
			fc := int(int16(binary.BigEndian.Uint16(h)))
			if fc == -1 {
				s.bin = binTrailer
				continue
			}
			if fc < 0 {
				return n + s.binaryCopyLost(body[p:])
			}
			s.binField, s.binFields = 0, fc
			s.bin = binFieldLen
			if fc == 0 {
				s.bin = binTuple
			}
		case binFieldLen:
			h, q, ok := s.binInt(body, p, 4)
			if p = q; !ok {
				return n
			}
			l := int(int32(binary.BigEndian.Uint32(h)))
			if l < -1 {
				return n + s.binaryCopyLost(body[p:])
			}
			if l == -1 {
				s.nextField()
				continue
			}
			s.bin, s.binNeed, s.binLen, s.binHit = binField, l, l, false
		case binField:
			take := min(s.binNeed, len(body)-p)
			v := body[p : p+take]
			if s.binField >= 0 { // not the header extension
				if s.carryN > 0 { // continuation of a field cut at the previous message's end
					b := s.boundary(v)
					s.binHit = s.binHit || b > 0
					n += b
					s.carryN = 0
				}
				switch {
				case s.binField < len(s.copyCols) && s.copyCols[s.binField].tagged:
					n += s.m.maskValue(v, s.m.fill, nil)
				case take == s.binLen: // the whole field: read it like an unknown-layout DataRow value
					n += s.m.guessValue(v)
				default: // a piece of a field cut across messages
					c := s.m.scan(v, s.m.fill, nil)
					s.binHit = s.binHit || c > 0
					n += c
					if s.binLen <= maxGuess {
						off := s.binLen - s.binNeed
						copy(s.binGuess[off:], v)
						if take == s.binNeed && !s.binHit {
							// the field is complete: guess on all of it, write back what is still here
							// (the pieces in earlier messages are gone; see docs/masking.md)
							if g := s.m.guessBinary(s.binGuess[:s.binLen]); g > 0 {
								copy(v, s.binGuess[off:s.binLen])
								n += g
							}
						}
					}
				}
				if take < s.binNeed {
					s.keepCarry(v)
				}
			}
			p += take
			s.binNeed -= take
			if s.binNeed == 0 {
				if s.binField < 0 {
					s.bin = binTuple
				} else {
					s.nextField()
				}
			}
		case binTrailer:
			return n + s.m.scan(body[p:], s.m.fill, nil)
		}
	}
	return n
}

// binInt reads a size-byte field count or length at body[p:], collecting it across messages when it
// is cut at a message end. It returns the bytes, the new position, and false when more are needed.
func (s *Stream) binInt(body []byte, p, size int) ([]byte, int, bool) {
	if s.binPartN == 0 && len(body)-p >= size {
		return body[p : p+size], p + size, true
	}
	k := copy(s.binPart[s.binPartN:size], body[p:])
	s.binPartN += k
	if s.binPartN < size {
		return nil, p + k, false
	}
	s.binPartN = 0
	return s.binPart[:size], p + k, true
}

func (s *Stream) nextField() {
	s.binField++
	if s.binField >= s.binFields {
		s.bin = binTuple
	} else {
		s.bin = binFieldLen
	}
}

// binaryCopyLost gives up on the framing: this and every later CopyData of the COPY are scanned whole.
func (s *Stream) binaryCopyLost(rest []byte) int {
	s.bin = binTrailer
	return s.m.scan(rest, s.m.fill, nil)
}

// Reset starts a new statement: it clears counts and the sample. The row description and COPY state
// stay, because the protocol lets DataRows of a cached statement follow without a new RowDescription.
func (s *Stream) Reset() {
	clear(s.counts)
	s.sample = Sample{}
	s.sampleBytes = 0
}

// Counts returns the masked values per result column name since Reset; columns of an unknown row
// layout count as "$1", "$2", …; other messages count under CountError, CountNotice, CountNotification,
// CountParameter, CountRowDescription, CountCopy and CountFunction. The map is the stream's own: read
// or copy it before the next Message.
func (s *Stream) Counts() map[string]int { return s.counts }

// Sample returns the capped sample of masked rows since Reset (first rows of the result, at most
// Config.SampleRows rows and SampleBytes bytes of values; NULL as \N; binary values of types the masker
// cannot render as "<binary N bytes>"). It shares no memory with message bodies.
func (s *Stream) Sample() Sample {
	s.m.sealSample(&s.sample)
	return s.sample
}
