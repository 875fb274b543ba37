package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ErrNotCanonicalizable is returned for JSON the canonical encoding does not admit: invalid UTF-8,
// numbers that are not integers, or a document that does not parse.
var ErrNotCanonicalizable = errors.New("schemas: value has no canonical encoding")

// Canonical re-encodes a JSON document in pangate's canonical form, the bytes event hashes cover:
//
//   - object members sorted by key (byte order of the UTF-8 key; all keys pangate writes are ASCII),
//     no duplicate keys (an input that repeats a key keeps its last value, as encoding/json decoding
//     always did here; the earlier values must still be well-formed JSON);
//   - no whitespace between tokens;
//   - strings UTF-8, escaping only '"', '\\' and control characters below U+0020 (as \b \t \n \f \r, or
//     \u00xx with lower-case hex); everything else, including '<', '>', '&', U+2028 and U+2029, literal;
//   - numbers are integers only, written in decimal without sign '+', leading zeros, fraction or exponent;
//   - true, false, null as themselves.
//
// For documents of ASCII keys and integer numbers this is exactly RFC 8785 (JCS), so other languages can
// reproduce a hash with an off-the-shelf JCS library.
//
// Input acceptance is that of json.Decoder.Decode followed by More: one value, then only whitespace, or a
// tail starting with ']' or '}' (a quirk of More kept so stored hashes never change meaning).
func Canonical(doc []byte) ([]byte, error) {
	// encoding/json would silently replace invalid UTF-8 with U+FFFD; a hash must never cover bytes that
	// differ from what was stored.
	if !utf8.Valid(doc) {
		return nil, fmt.Errorf("%w: document is not valid UTF-8", ErrNotCanonicalizable)
	}
	sc := scratchPool.Get().(*scratch)
	defer putScratch(sc)
	nodes, err := scanJSON(doc, false, sc.nodes)
	sc.nodes = nodes[:0]
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
	}
	w := canonWriter{doc: doc, nodes: nodes, out: make([]byte, 0, len(doc)), mem: sc.mem[:0], keybuf: sc.keybuf[:0]}
	err = w.write(0)
	sc.mem, sc.keybuf = w.mem[:0], w.keybuf[:0]
	if err != nil {
		return nil, err
	}
	return w.out, nil
}

func errNotInteger(lit []byte) error {
	// Normalise integers such as "-0" or "1e3"? No: refuse, so producers fix their data instead of two
	// implementations disagreeing on float formatting.
	return fmt.Errorf("%w: number %s is not an integer in plain decimal form", ErrNotCanonicalizable, lit)
}

func isCanonicalInteger(s string) bool {
	if s == "" || s == "-0" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
	}
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

func writeString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf.WriteString(s[start:i])
		switch c {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\t':
			buf.WriteString(`\t`)
		case '\n':
			buf.WriteString(`\n`)
		case '\f':
			buf.WriteString(`\f`)
		case '\r':
			buf.WriteString(`\r`)
		default:
			buf.WriteString(`\u00`)
			buf.WriteByte(hexDigits[c>>4])
			buf.WriteByte(hexDigits[c&0xf])
		}
		start = i + 1
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// canonicalEvent encodes e canonically, with or without its "hash" member.
func canonicalEvent(e Event, withHash bool) ([]byte, error) {
	data := e.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	cdata, err := Canonical(data)
	if err != nil {
		return nil, fmt.Errorf("event %s (%s) data: %w", e.ID, e.Type, err)
	}
	// The envelope members are fixed, so they are written in sorted order directly:
	// data, gateway{instance,version}, hash, id, prev, seq, session, time, type, v.
	var buf bytes.Buffer
	buf.Grow(len(cdata) + 320)
	buf.WriteString(`{"data":`)
	buf.Write(cdata)
	buf.WriteString(`,"gateway":{"instance":`)
	if err := writeChecked(&buf, e.Gateway.Instance); err != nil {
		return nil, err
	}
	buf.WriteString(`,"version":`)
	if err := writeChecked(&buf, e.Gateway.Version); err != nil {
		return nil, err
	}
	buf.WriteString(`}`)
	if withHash {
		buf.WriteString(`,"hash":`)
		if err := writeChecked(&buf, e.Hash); err != nil {
			return nil, err
		}
	}
	for _, f := range [...]struct {
		key, val string
	}{{"id", e.ID}, {"prev", e.Prev}} {
		buf.WriteString(`,"` + f.key + `":`)
		if err := writeChecked(&buf, f.val); err != nil {
			return nil, err
		}
	}
	buf.WriteString(`,"seq":`)
	buf.WriteString(strconv.FormatUint(e.Seq, 10))
	buf.WriteString(`,"session":`)
	if err := writeChecked(&buf, e.Session); err != nil {
		return nil, err
	}
	buf.WriteString(`,"time":`)
	if err := writeChecked(&buf, e.Time); err != nil {
		return nil, err
	}
	buf.WriteString(`,"type":`)
	if err := writeChecked(&buf, e.Type); err != nil {
		return nil, err
	}
	buf.WriteString(`,"v":`)
	buf.WriteString(strconv.Itoa(e.V))
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func writeChecked(buf *bytes.Buffer, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: envelope string is not valid UTF-8", ErrNotCanonicalizable)
	}
	writeString(buf, s)
	return nil
}
