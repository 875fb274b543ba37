package schemas

import (
	"bytes"
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
	return appendCanonical(make([]byte, 0, len(doc)), doc)
}

// appendCanonical is Canonical appending to dst.
func appendCanonical(dst, doc []byte) ([]byte, error) {
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
	w := canonWriter{doc: doc, nodes: nodes, out: dst, mem: sc.mem[:0], keybuf: sc.keybuf[:0]}
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
	b, _, err := appendEvent(make([]byte, 0, len(e.Data)+320), e, withHash)
	return b, err
}

// appendEvent appends e's canonical encoding to dst, with or without its "hash" member; hashAt is where
// the "hash" member starts (or would start), right after the "gateway" object.
func appendEvent(dst []byte, e Event, withHash bool) (out []byte, hashAt int, err error) {
	data := []byte(e.Data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	// The envelope members are fixed, so they are written in sorted order directly:
	// data, gateway{instance,version}, hash, id, prev, seq, session, time, type, v.
	dst = append(dst, `{"data":`...)
	if dst, err = appendCanonical(dst, data); err != nil {
		return nil, 0, fmt.Errorf("event %s (%s) data: %w", e.ID, e.Type, err)
	}
	for _, f := range [...]struct{ key, val string }{
		{`,"gateway":{"instance":`, e.Gateway.Instance}, {`,"version":`, e.Gateway.Version},
	} {
		dst = append(dst, f.key...)
		if dst, err = appendChecked(dst, f.val); err != nil {
			return nil, 0, err
		}
	}
	dst = append(dst, '}')
	hashAt = len(dst)
	if withHash {
		dst = append(dst, `,"hash":`...)
		if dst, err = appendChecked(dst, e.Hash); err != nil {
			return nil, 0, err
		}
	}
	for _, f := range [...]struct{ key, val string }{{`,"id":`, e.ID}, {`,"prev":`, e.Prev}} {
		dst = append(dst, f.key...)
		if dst, err = appendChecked(dst, f.val); err != nil {
			return nil, 0, err
		}
	}
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	for _, f := range [...]struct{ key, val string }{{`,"session":`, e.Session}, {`,"time":`, e.Time}, {`,"type":`, e.Type}} {
		dst = append(dst, f.key...)
		if dst, err = appendChecked(dst, f.val); err != nil {
			return nil, 0, err
		}
	}
	dst = append(dst, `,"v":`...)
	dst = strconv.AppendInt(dst, int64(e.V), 10)
	dst = append(dst, '}')
	return dst, hashAt, nil
}

func appendChecked(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: envelope string is not valid UTF-8", ErrNotCanonicalizable)
	}
	return appendCanonicalString(dst, s), nil
}
