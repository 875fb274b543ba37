package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"
)

// canonicalReference is the original Canonical (decode into interface{}, re-encode sorted). It is kept
// only as the oracle of the differential tests: the scanner-based Canonical must produce the same bytes
// and refuse the same inputs.
func canonicalReference(doc []byte) ([]byte, error) {
	// encoding/json would silently replace invalid UTF-8 with U+FFFD; a hash must never cover bytes that
	// differ from what was stored.
	if !utf8.Valid(doc) {
		return nil, fmt.Errorf("%w: document is not valid UTF-8", ErrNotCanonicalizable)
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotCanonicalizable, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON value", ErrNotCanonicalizable)
	}
	var buf bytes.Buffer
	buf.Grow(len(doc))
	if err := writeCanonical(&buf, v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeCanonical(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if x {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		s := string(x)
		if !isCanonicalInteger(s) {
			// Normalise integers such as "-0" or "1e3"? No: refuse, so producers fix their data instead of
			// two implementations disagreeing on float formatting.
			return fmt.Errorf("%w: number %s is not an integer in plain decimal form", ErrNotCanonicalizable, s)
		}
		buf.WriteString(s)
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("%w: string is not valid UTF-8", ErrNotCanonicalizable)
		}
		writeString(buf, x)
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			if !utf8.ValidString(k) {
				return fmt.Errorf("%w: object key is not valid UTF-8", ErrNotCanonicalizable)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeCanonical(buf, x[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("%w: unexpected %T", ErrNotCanonicalizable, v)
	}
	return nil
}
