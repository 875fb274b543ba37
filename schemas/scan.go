package schemas

import (
	"errors"
	"slices"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The scanner below replaces "decode into interface{}, re-encode sorted" on the hot paths (Canonical per
// statement in the gateway, Validate per record in the indexer). It parses once into a flat pre-order tree
// of byte ranges, so no value is boxed and no number or unescaped string is copied. Its grammar is exactly
// encoding/json's (RFC 8259, max nesting depth 10000); the differential fuzz tests hold it to that.

// Node kinds.
const (
	kObject = iota + 1
	kArray
	kString
	kNumber
	kTrue
	kFalse
	kNull
)

// maxDepth is encoding/json's nesting limit: 10000 open containers are fine, 10001 is an error.
const maxDepth = 10000

// jnode is one value. Containers are followed by their children in pre-order (an object's children
// alternate key string, value); next is the index just past the node's subtree.
type jnode struct {
	kind       uint8
	esc        bool  // string containing a backslash escape
	start, end int32 // raw bytes: a string includes its quotes
	next       int32
}

var errSyntax = errors.New("malformed JSON")

type jscanner struct {
	b     []byte
	pos   int
	depth int
	nodes []jnode
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *jscanner) skipSpace() {
	for s.pos < len(s.b) && isSpace(s.b[s.pos]) {
		s.pos++
	}
}

// value reads one value starting at s.pos (leading whitespace allowed) and appends its subtree.
func (s *jscanner) value() error {
	s.skipSpace()
	if s.pos >= len(s.b) {
		return errSyntax
	}
	idx := len(s.nodes)
	start := s.pos
	s.nodes = append(s.nodes, jnode{start: int32(start)})
	var kind uint8
	switch c := s.b[s.pos]; {
	case c == '{':
		kind = kObject
		if s.depth++; s.depth > maxDepth {
			return errSyntax
		}
		s.pos++
		s.skipSpace()
		if s.pos < len(s.b) && s.b[s.pos] == '}' {
			s.pos++
		} else {
			for {
				s.skipSpace()
				if s.pos >= len(s.b) || s.b[s.pos] != '"' {
					return errSyntax
				}
				if err := s.value(); err != nil {
					return err
				}
				s.skipSpace()
				if s.pos >= len(s.b) || s.b[s.pos] != ':' {
					return errSyntax
				}
				s.pos++
				if err := s.value(); err != nil {
					return err
				}
				s.skipSpace()
				if s.pos >= len(s.b) {
					return errSyntax
				}
				if s.b[s.pos] == ',' {
					s.pos++
					continue
				}
				if s.b[s.pos] == '}' {
					s.pos++
					break
				}
				return errSyntax
			}
		}
		s.depth--
	case c == '[':
		kind = kArray
		if s.depth++; s.depth > maxDepth {
			return errSyntax
		}
		s.pos++
		s.skipSpace()
		if s.pos < len(s.b) && s.b[s.pos] == ']' {
			s.pos++
		} else {
			for {
				if err := s.value(); err != nil {
					return err
				}
				s.skipSpace()
				if s.pos >= len(s.b) {
					return errSyntax
				}
				if s.b[s.pos] == ',' {
					s.pos++
					continue
				}
				if s.b[s.pos] == ']' {
					s.pos++
					break
				}
				return errSyntax
			}
		}
		s.depth--
	case c == '"':
		kind = kString
		esc, err := s.str()
		if err != nil {
			return err
		}
		s.nodes[idx].esc = esc
	case c == '-' || (c >= '0' && c <= '9'):
		kind = kNumber
		if err := s.number(); err != nil {
			return err
		}
	case c == 't':
		kind = kTrue
		if err := s.lit("true"); err != nil {
			return err
		}
	case c == 'f':
		kind = kFalse
		if err := s.lit("false"); err != nil {
			return err
		}
	case c == 'n':
		kind = kNull
		if err := s.lit("null"); err != nil {
			return err
		}
	default:
		return errSyntax
	}
	n := &s.nodes[idx]
	n.kind, n.end, n.next = kind, int32(s.pos), int32(len(s.nodes))
	return nil
}

func (s *jscanner) lit(w string) error {
	if len(s.b)-s.pos < len(w) || string(s.b[s.pos:s.pos+len(w)]) != w {
		return errSyntax
	}
	s.pos += len(w)
	return nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// str scans a string at s.pos (on the opening quote) and reports whether it holds an escape.
func (s *jscanner) str() (bool, error) {
	b := s.b
	i := s.pos + 1
	esc := false
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return esc, nil
		case c < 0x20:
			return false, errSyntax
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return false, errSyntax
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return false, errSyntax
				}
				i += 6
			default:
				return false, errSyntax
			}
		default:
			i++
		}
	}
	return false, errSyntax
}

func (s *jscanner) number() error {
	b := s.b
	i := s.pos
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return errSyntax
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return errSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return errSyntax
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return errSyntax
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return nil
}

// scanJSON parses doc. strictTail demands only whitespace after the value; otherwise the tail follows
// json.Decoder.Decode + More, which Canonical has always used: it also admits a tail that starts with
// ']' or '}' (More reports false for those), and that quirk is kept so Canonical accepts exactly what it
// accepted before.
func scanJSON(doc []byte, strictTail bool, nodes []jnode) ([]jnode, error) {
	s := jscanner{b: doc, nodes: nodes[:0]}
	if err := s.value(); err != nil {
		return s.nodes, err
	}
	s.skipSpace()
	if s.pos < len(doc) {
		if c := doc[s.pos]; strictTail || (c != ']' && c != '}') {
			return s.nodes, errTrailing
		}
	}
	return s.nodes, nil
}

var errTrailing = errors.New("trailing data after the JSON value")

// appendUnquoted appends the decoded content of the JSON string raw (quotes included), exactly as
// encoding/json unquotes it: a lone or mis-paired UTF-16 surrogate becomes U+FFFD. raw must be valid UTF-8.
func appendUnquoted(dst, raw []byte) []byte {
	s := raw[1 : len(raw)-1]
	for r := 0; r < len(s); {
		c := s[r]
		if c != '\\' {
			dst = append(dst, c)
			r++
			continue
		}
		switch s[r+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			rr := getu4(s[r:])
			if utf16.IsSurrogate(rr) {
				if r+12 <= len(s) && s[r+6] == '\\' && s[r+7] == 'u' {
					if dec := utf16.DecodeRune(rr, getu4(s[r+6:])); dec != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, dec)
						r += 12
						continue
					}
				}
				rr = unicode.ReplacementChar
			}
			dst = utf8.AppendRune(dst, rr)
			r += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[r+1])
		}
		r += 2
	}
	return dst
}

// getu4 decodes the \uXXXX at the start of s (already checked by the scanner), or returns -1 when s does
// not start with one.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// member is one object member while an object is being written: its decoded key (a range of the
// document, or of keybuf for a key with escapes) and value node. It holds no pointers, so the member
// stack costs the garbage collector nothing.
type member struct {
	ks, ke   int32
	inKeyBuf bool
	val, ord int32
}

// canonWriter writes the canonical form of a scanned tree.
type canonWriter struct {
	doc    []byte
	nodes  []jnode
	out    []byte
	mem    []member // a stack: each object uses a window and truncates it back
	keybuf []byte   // decoded keys that had escapes
}

func (w *canonWriter) key(m member) []byte {
	if m.inKeyBuf {
		return w.keybuf[m.ks:m.ke]
	}
	return w.doc[m.ks:m.ke]
}

// scratch is the reusable working memory of one Canonical or Validate call.
type scratch struct {
	nodes  []jnode
	mem    []member
	keybuf []byte
}

var scratchPool = sync.Pool{New: func() any { return &scratch{nodes: make([]jnode, 0, 256), mem: make([]member, 0, 64)} }}

// putScratch returns sc to the pool unless one hostile document made it huge.
func putScratch(sc *scratch) {
	if cap(sc.nodes) > 1<<16 || cap(sc.mem) > 1<<14 || cap(sc.keybuf) > 1<<16 {
		return
	}
	scratchPool.Put(sc)
}

func (w *canonWriter) write(i int32) error {
	n := &w.nodes[i]
	switch n.kind {
	case kString:
		if !n.esc {
			// Without escapes the raw string holds no '"', '\\' or control byte: it is already canonical.
			w.out = append(w.out, w.doc[n.start:n.end]...)
			return nil
		}
		// Decode into the tail of keybuf and drop it again: earlier keys' offsets stay valid.
		mark := len(w.keybuf)
		w.keybuf = appendUnquoted(w.keybuf, w.doc[n.start:n.end])
		w.out = appendCanonicalString(w.out, w.keybuf[mark:])
		w.keybuf = w.keybuf[:mark]
	case kNumber:
		lit := w.doc[n.start:n.end]
		if !isCanonicalInteger(string(lit)) {
			return errNotInteger(lit)
		}
		w.out = append(w.out, lit...)
	case kTrue:
		w.out = append(w.out, "true"...)
	case kFalse:
		w.out = append(w.out, "false"...)
	case kNull:
		w.out = append(w.out, "null"...)
	case kArray:
		w.out = append(w.out, '[')
		for c := i + 1; c < n.next; c = w.nodes[c].next {
			if c > i+1 {
				w.out = append(w.out, ',')
			}
			if err := w.write(c); err != nil {
				return err
			}
		}
		w.out = append(w.out, ']')
	case kObject:
		base := len(w.mem)
		for k := i + 1; k < n.next; {
			kn := &w.nodes[k]
			m := member{ks: kn.start + 1, ke: kn.end - 1, val: k + 1, ord: int32(len(w.mem) - base)}
			if kn.esc {
				m.ks = int32(len(w.keybuf))
				w.keybuf = appendUnquoted(w.keybuf, w.doc[kn.start:kn.end])
				m.ke, m.inKeyBuf = int32(len(w.keybuf)), true
			}
			w.mem = append(w.mem, m)
			k = w.nodes[k+1].next
		}
		ms := w.mem[base:]
		// Sort by key, ties in document order, then keep the last of equal keys: encoding/json decoding
		// into a map lets the last duplicate win, and Canonical has always inherited that.
		slices.SortFunc(ms, func(a, b member) int {
			if c := compareBytes(w.key(a), w.key(b)); c != 0 {
				return c
			}
			return int(a.ord - b.ord)
		})
		w.out = append(w.out, '{')
		first := true
		for j := 0; j < len(ms); j++ {
			if j+1 < len(ms) && string(w.key(ms[j])) == string(w.key(ms[j+1])) {
				continue
			}
			if !first {
				w.out = append(w.out, ',')
			}
			first = false
			w.out = appendCanonicalString(w.out, w.key(ms[j]))
			w.out = append(w.out, ':')
			if err := w.write(ms[j].val); err != nil {
				return err
			}
			ms = w.mem[base:] // write may have grown w.mem
		}
		w.out = append(w.out, '}')
		w.mem = w.mem[:base]
	}
	return nil
}

func compareBytes(a, b []byte) int {
	if string(a) < string(b) {
		return -1
	}
	if string(a) > string(b) {
		return 1
	}
	return 0
}

// appendCanonicalString is writeString for an append-style buffer.
func appendCanonicalString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, `\"`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\b':
			dst = append(dst, `\b`...)
		case '\t':
			dst = append(dst, `\t`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\r':
			dst = append(dst, `\r`...)
		default:
			dst = append(dst, `\u00`...)
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
