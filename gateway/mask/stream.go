package mask

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

// Stream masks the backend → client messages of one client connection. It is not safe for concurrent
// use: call it from the goroutine that relays upstream messages.
//
// Protocol state it keeps: the current row description (set by a 'T' message or by SetRowDescription),
// the COPY format (set by 'H'/'W'), and a small carry-over for digit runs cut at a CopyData boundary.
type Stream struct {
	m   *Masker
	cat Catalog
}

// NewStream returns a Stream for one client connection. cat may be nil (no column tags by table).
func (m *Masker) NewStream(cat Catalog) *Stream {
	return &Stream{m: m, cat: cat}
}

// Message masks one backend message in place and returns how many values it masked. typ is the pgwire
// message type byte, body the bytes after the 4-byte length. The body length never changes, so the
// gateway can forward the original frame. Malformed bodies never panic: they are scanned whole.
func (s *Stream) Message(typ byte, body []byte) int {
	_ = typ
	_ = body
	return 0
}

// SetRowDescription tells the stream which row description the next DataRows follow, for the extended
// protocol where the 'T' came from an earlier Describe (statement) and the formats from Bind. body is the
// RowDescription body as received; resultFormats are the Bind message's result-column format codes
// (none: all text; one: applies to all; otherwise one per column). resultFormats override the format codes
// in body (which PostgreSQL sends as 0 for a statement Describe). Pass nil resultFormats to use the codes
// in body (Describe of a portal).
func (s *Stream) SetRowDescription(body []byte, resultFormats []int16) {
	_ = body
	_ = resultFormats
}

// Reset starts a new statement: it clears counts and the sample. The row description and COPY state
// stay, because the protocol lets DataRows of a cached statement follow without a new RowDescription.
func (s *Stream) Reset() {}

// Counts returns the masked values per result column name since Reset; non-row messages count under
// "error", "notice", "notification", "parameter", "rowdescription" and "copy". The map is the stream's
// own: read it before the next Message or copy it.
func (s *Stream) Counts() map[string]int { return nil }

// Sample returns the capped sample of masked rows since Reset. It shares no memory with message bodies.
func (s *Stream) Sample() Sample { return Sample{} }
