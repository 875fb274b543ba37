package classify

import (
	"container/list"
	"strings"
	"sync"

	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// maxCachedLen bounds the text length the Cache keeps: longer strings (bulk INSERTs, generated SQL) are
// classified every time rather than filling memory with keys nobody will send twice.
const maxCachedLen = 64 << 10

// Cache is a concurrency-safe LRU of classifications, shared by all sessions of a gateway.
//
// Its key comes from PostgreSQL's own scanner (pg_query's Scan, the server's scan.l): the sequence of
// tokens the server's grammar will see, each kept byte for byte except constants (ICONST, FCONST,
// SCONST, BCONST, XCONST, USCONST), which become a placeholder naming their token type; whitespace and
// comments are dropped exactly where the scanner drops them. So "WHERE id=1" and "WHERE id=2" share an
// entry, while texts the server splits into different tokens (a string continued across lines is one
// token, two strings on one line are two) never do: a hand-written approximation of the lexer is how
// a harmless statement's decision once answered for a malicious one (issue 11).
//
// A shared entry must answer exactly as classifying the caller's own text would. Three rules keep it so:
//   - Only constants that the parse tree holds as A_Const values (at the constant's location) are
//     free to vary. A constant the grammar consumes otherwise (a COPY file name, FETCH's count,
//     FLOAT(p), EXPLAIN option values, UESCAPE's character, a function body) is pinned: a later text
//     whose pinned token differs is classified afresh and cached under its exact bytes.
//     FuzzCacheKeySameTree checks the result: texts answered from one entry have the same parse tree
//     apart from constant values and locations.
//   - Classifications that read a constant's value (set_config names, SET values in Settings, EXPLAIN
//     options) and unparseable strings (whose error message quotes the input) are cached under the
//     exact text only, so one client's literals never appear in another's classification.
//   - Text is re-sliced from the caller's string: statement bounds are stored as token positions and
//     resolved against the caller's own tokens.
//
// The gateway can use it for extended-protocol Parse messages too (names are per session, the cache is
// shared).
type Cache struct {
	mu           sync.Mutex
	size         int
	ll           *list.List // of *entry, most recently used first
	m            map[string]*list.Element
	hits, misses uint64
}

// anchor is a statement bound expressed against the token sequence, so that it can be resolved in
// another text with the same key: offset 0, the start or end of token i, or the end of the string.
type anchor struct {
	kind uint8 // anchorZero, anchorStart, anchorEnd, anchorLen
	tok  int32
}

const (
	anchorZero uint8 = iota
	anchorStart
	anchorEnd
	anchorLen
)

// pin is a constant token that the parse tree does not hold as an A_Const: its text must match.
type pin struct {
	tok  int32
	text string
}

type entry struct {
	key   string
	stmts []Statement // Text left empty
	exact bool
	// For exact entries, the trimmed statement bounds; otherwise the raw (untrimmed) bounds as anchors.
	bounds  [][2]int
	anchors [][2]anchor
	pins    []pin
}

// token is a scanner token the grammar sees (comments are dropped).
type token struct {
	start, end int32
	typ        pg.Token
}

func isConstToken(t pg.Token) bool {
	switch t {
	case pg.Token_ICONST, pg.Token_FCONST, pg.Token_SCONST, pg.Token_BCONST, pg.Token_XCONST, pg.Token_USCONST:
		return true
	}
	return false
}

// scanKey returns the cache key of sql and its tokens; ok is false when the scanner refuses the text or
// the text holds a NUL byte (such strings are cached under their exact bytes).
//
// The key is, for each token, a kind byte ('c' constant, 'v' verbatim), the constant's token type or
// the token's bytes, and a NUL separator. Tokens never contain NUL, so the encoding is injective over
// token sequences.
func scanKey(sql string) (string, []token, bool) {
	toks, ok := scanTokens(sql)
	if !ok {
		return "", nil, false
	}
	var b strings.Builder
	b.Grow(len(sql) + len(toks) + 1)
	b.WriteByte('n')
	for _, t := range toks {
		if isConstToken(t.typ) {
			b.WriteByte('c')
			b.WriteByte(byte(t.typ - 256))
		} else {
			b.WriteByte('v')
			b.WriteString(sql[t.start:t.end])
		}
		b.WriteByte(0)
	}
	return b.String(), toks, true
}

// scanTokens runs PostgreSQL's scanner (pg_query) over sql and returns the tokens the grammar sees.
// It decodes the scanner's protobuf output (pg_query.ScanResult) directly rather than through
// pg.Scan's generic unmarshalling: on a cache hit this is most of the work, and the generic path
// allocates a message per token.
func scanTokens(sql string) ([]token, bool) {
	if strings.IndexByte(sql, 0) >= 0 {
		return nil, false
	}
	buf, err := parser.ScanToProtobuf(sql)
	if err != nil {
		return nil, false
	}
	toks := make([]token, 0, len(sql)/4+1)
	for len(buf) > 0 {
		num, typ, n := protowire.ConsumeTag(buf)
		if n < 0 {
			return nil, false
		}
		buf = buf[n:]
		if num != 2 || typ != protowire.BytesType { // ScanResult.tokens = 2; skip version and unknowns
			n = protowire.ConsumeFieldValue(num, typ, buf)
			if n < 0 {
				return nil, false
			}
			buf = buf[n:]
			continue
		}
		msg, n := protowire.ConsumeBytes(buf)
		if n < 0 {
			return nil, false
		}
		buf = buf[n:]
		var t token
		for len(msg) > 0 {
			fnum, ftyp, m := protowire.ConsumeTag(msg)
			if m < 0 {
				return nil, false
			}
			msg = msg[m:]
			if ftyp != protowire.VarintType {
				m = protowire.ConsumeFieldValue(fnum, ftyp, msg)
				if m < 0 {
					return nil, false
				}
				msg = msg[m:]
				continue
			}
			v, m := protowire.ConsumeVarint(msg)
			if m < 0 {
				return nil, false
			}
			msg = msg[m:]
			switch fnum { // ScanToken: start = 1, end = 2, token = 4
			case 1:
				t.start = int32(v)
			case 2:
				t.end = int32(v)
			case 4:
				t.typ = pg.Token(v)
			}
		}
		if t.typ == pg.Token_SQL_COMMENT || t.typ == pg.Token_C_COMMENT {
			continue
		}
		if t.start < 0 || t.end < t.start || int(t.end) > len(sql) {
			return nil, false
		}
		toks = append(toks, t)
	}
	return toks, true
}

// NewCache returns a Cache holding at most size entries; size <= 0 means 1024.
func NewCache(size int) *Cache {
	if size <= 0 {
		size = 1024
	}
	return &Cache{size: size, ll: list.New(), m: make(map[string]*list.Element, size)}
}

// Classify is Classify with caching. The returned slice is the caller's; the slices inside each
// Statement are shared and read-only.
func (c *Cache) Classify(sql string) []Statement {
	if len(sql) > maxCachedLen {
		c.count(false)
		return Classify(sql)
	}
	xkey := "x" + sql
	if e := c.get(xkey, false); e != nil {
		return e.materialise(sql)
	}
	nkey, toks, scanned := scanKey(sql)
	if scanned {
		if e := c.get(nkey, true); e != nil {
			if out, ok := e.resolve(sql, toks); ok {
				return out
			}
			// A pinned constant differs: classify this text on its own, under its exact bytes.
			c.adjustPinMiss()
			scanned = false
		}
	} else {
		c.count(false)
	}
	r := classify(sql)
	e := &entry{stmts: make([]Statement, len(r.stmts))}
	copy(e.stmts, r.stmts)
	for i := range e.stmts {
		e.stmts[i].Text = ""
	}
	if scanned && !r.literalSensitive && r.tree != nil {
		if anchors, ok := anchorBounds(r.raw, toks, len(sql)); ok {
			e.key, e.anchors, e.pins = nkey, anchors, pins(sql, toks, r.tree)
			c.put(e)
			return r.stmts
		}
	}
	e.key, e.exact = xkey, true
	e.bounds = make([][2]int, len(r.bounds))
	copy(e.bounds, r.bounds)
	c.put(e)
	return r.stmts
}

// anchorBounds expresses the parser's raw statement bounds against the tokens.
func anchorBounds(raw [][2]int, toks []token, n int) ([][2]anchor, bool) {
	find := func(off int) (anchor, bool) {
		switch off {
		case 0:
			return anchor{kind: anchorZero}, true
		case n:
			return anchor{kind: anchorLen}, true
		}
		for i, t := range toks {
			if int(t.end) == off {
				return anchor{kind: anchorEnd, tok: int32(i)}, true
			}
			if int(t.start) == off {
				return anchor{kind: anchorStart, tok: int32(i)}, true
			}
		}
		return anchor{}, false
	}
	out := make([][2]anchor, len(raw))
	for i, b := range raw {
		s, ok1 := find(b[0])
		e, ok2 := find(b[1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i] = [2]anchor{s, e}
	}
	return out, true
}

// pins lists the constant tokens whose value the parse tree does not hold in an A_Const at the
// token's location (nor at the location of a '-' just before it, which the grammar folds into the
// constant).
func pins(sql string, toks []token, tree *pg.ParseResult) []pin {
	locs := map[int32]bool{}
	constLocations(tree.ProtoReflect(), locs)
	var out []pin
	for i, t := range toks {
		if !isConstToken(t.typ) || locs[t.start] {
			continue
		}
		if i > 0 && sql[toks[i-1].start:toks[i-1].end] == "-" && locs[toks[i-1].start] {
			continue
		}
		out = append(out, pin{tok: int32(i), text: sql[t.start:t.end]})
	}
	return out
}

// constLocations collects the location of every A_Const in m.
func constLocations(m protoreflect.Message, locs map[int32]bool) {
	if m == nil || !m.IsValid() {
		return
	}
	if a, ok := m.Interface().(*pg.A_Const); ok {
		locs[a.Location] = true
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				constLocations(l.Get(i).Message(), locs)
			}
			return true
		}
		constLocations(v.Message(), locs)
		return true
	})
}

func (c *Cache) count(hit bool) {
	c.mu.Lock()
	if hit {
		c.hits++
	} else {
		c.misses++
	}
	c.mu.Unlock()
}

// adjustPinMiss turns the hit just counted for a pin mismatch into a miss.
func (c *Cache) adjustPinMiss() {
	c.mu.Lock()
	c.hits--
	c.misses++
	c.mu.Unlock()
}

// get looks key up. A lookup is an exact probe then a token-key probe: only the last one counts a miss.
func (c *Cache) get(key string, last bool) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		if last {
			c.misses++
		}
		return nil
	}
	c.hits++
	c.ll.MoveToFront(el)
	return el.Value.(*entry)
}

func (c *Cache) put(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[e.key]; ok {
		el.Value = e
		c.ll.MoveToFront(el)
		return
	}
	c.m[e.key] = c.ll.PushFront(e)
	for c.ll.Len() > c.size {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*entry).key)
	}
}

// resolve answers from a token-keyed entry for sql (whose tokens are toks): false when a pinned
// constant differs or a bound cannot be resolved.
func (e *entry) resolve(sql string, toks []token) ([]Statement, bool) {
	for _, p := range e.pins {
		if int(p.tok) >= len(toks) {
			return nil, false
		}
		t := toks[p.tok]
		if sql[t.start:t.end] != p.text {
			return nil, false
		}
	}
	offset := func(a anchor) (int, bool) {
		switch a.kind {
		case anchorZero:
			return 0, true
		case anchorLen:
			return len(sql), true
		}
		if int(a.tok) >= len(toks) {
			return 0, false
		}
		if a.kind == anchorStart {
			return int(toks[a.tok].start), true
		}
		return int(toks[a.tok].end), true
	}
	out := make([]Statement, len(e.stmts))
	copy(out, e.stmts)
	for i, b := range e.anchors {
		start, ok1 := offset(b[0])
		end, ok2 := offset(b[1])
		if !ok1 || !ok2 || start > end {
			return nil, false // cannot happen for equal keys
		}
		start, end = trim(sql, start, end)
		out[i].Text = sql[start:end]
	}
	return out, true
}

// materialise builds the caller's statements from an exact entry, slicing Text from sql.
func (e *entry) materialise(sql string) []Statement {
	out := make([]Statement, len(e.stmts))
	copy(out, e.stmts)
	for i, b := range e.bounds {
		start, end := b[0], b[1]
		if start < 0 || end > len(sql) || start > end {
			start, end = 0, len(sql) // cannot happen for an identical text; never slice out of range
		}
		out[i].Text = sql[start:end]
	}
	return out
}

// Stats returns the number of cache hits and misses so far (strings too long to cache count as misses).
func (c *Cache) Stats() (hits, misses uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.misses
}

// Len returns the number of entries held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
