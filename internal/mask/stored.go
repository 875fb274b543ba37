package mask

import (
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The storage detector: texts pangate stores or emits (SQL text, parameters, samples, errors, logs, Slack)
// are scanned harder than the client stream, because over-masking a stored text costs little and a
// stored PAN cannot be recalled (docs/masking.md, docs/invariants.md, invariant 2). On top of the stream detector
// ([Masker.Text]) it finds:
//
//   - PANs anywhere inside a longer digit run: every 12–19 digit window is checked (IIN + Luhn), with a
//     Luhn prefix sum so that each window costs O(1);
//   - digits joined by any separators: a run of digits ends only at a letter, so punctuation of any kind,
//     repeated, non-breaking, zero-width and other Unicode spaces, quotes and commas of JSON or array
//     elements ({4111,1111,1111,1111}) all join digits;
//   - digits of any script (fullwidth, Arabic-Indic, …), read by their decimal value;
//   - hex of ASCII digits ("34313131…", "\x34\x31…", "0x34 0x31…") and base64 of ASCII digit strings.
//
// It masks with the shape and the text fill and repeats until nothing is found: the fill is a separator
// to it, so visible digits of two PANs might join into a new candidate, which the next round hides.

// maxStoredRounds bounds the rounds of Stored; after them every digit of a run still holding a
// candidate is hidden.
const maxStoredRounds = 8

// Stored returns s masked for storage with the storage detector, and how many PANs, track data and
// encoded PANs it masked. It returns s itself when nothing was found. Use it for every text pangate
// stores or emits (event fields, logs, Slack); client-bound bytes keep [Stream.Message].
func (m *Masker) Stored(s string) (string, int) {
	t, f := m.Text(s)
	n := f.Count
	if !storedCandidate(t) {
		return t, n
	}
	for round := 0; ; round++ {
		out, k := m.storedPass(t, round >= maxStoredRounds, 0)
		if k == 0 {
			return t, n
		}
		n += k
		t = out
	}
}

// storedCandidate is the cheap pre-check: at least 12 digits of any script, or a hex or base64 run
// long enough to encode 12 digits.
func storedCandidate(s string) bool {
	digits, b64 := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			return true
		case isDigit(c):
			if digits++; digits >= minPANDigits {
				return true
			}
		}
		if base64Char(c) {
			if b64++; b64 >= 16 {
				return true
			}
		} else {
			b64 = 0
		}
	}
	return false
}

// element is one digit of a stored text's reading: its value and the bytes it occupies.
type element struct {
	val        byte
	start, end int32
}

// storedPass runs the storage detector once over s and returns the masked text and the count. all hides
// every digit of a run holding a candidate (the last resort after maxStoredRounds). depth counts
// decoding levels (hex, base64) so that nested encodings stay bounded.
func (m *Masker) storedPass(s string, all bool, depth int) (string, int) {
	var hide []bool // per byte of s: overwrite with the fill
	count := 0
	mark := func(a, b int) {
		if hide == nil {
			hide = make([]bool, len(s))
		}
		for i := a; i < b; i++ {
			hide[i] = true
		}
	}
	// digit runs: digits of any script, anything but letters between them
	var run []element
	flush := func() {
		if len(run) >= minPANDigits {
			count += m.windows(run, all, mark)
		}
		run = run[:0]
	}
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if v, ok := digitValue(r); ok {
			run = append(run, element{v, int32(i), int32(i + size)})
		} else if unicode.IsLetter(r) {
			flush()
		}
		i += size
	}
	flush()
	if depth < 2 {
		count += m.encoded(s, depth, mark)
	}
	if count == 0 {
		return s, 0
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if !hide[i] {
			b.WriteByte(s[i])
			i++
			continue
		}
		// one fill per hidden character, whatever its width in bytes
		_, size := utf8.DecodeRuneInString(s[i:])
		b.WriteByte(m.fill)
		i += size
	}
	return b.String(), count
}

// windows finds every 12–19 digit window of run that is a PAN (IIN, length, Luhn) and marks its hidden
// digits (all of the run's digits when all is set). Luhn sums come from two prefix sums, one doubling
// the digits at even indexes and one those at odd indexes: the window [p, q) doubles the digits whose
// distance to q-1 is odd.
func (m *Masker) windows(run []element, all bool, mark func(a, b int)) int {
	n := len(run)
	var stack [2 * 128]int32
	var even, odd []int32
	if n+1 <= 128 {
		even, odd = stack[:n+1], stack[128:128+n+1]
	} else {
		even, odd = make([]int32, n+1), make([]int32, n+1)
	}
	for i, e := range run {
		d, dd := int32(e.val), int32(luhnDouble[e.val])
		if i%2 == 0 {
			even[i+1], odd[i+1] = even[i]+dd, odd[i]+d
		} else {
			even[i+1], odd[i+1] = even[i]+d, odd[i]+dd
		}
	}
	count := 0
	for p := 0; p+minPANDigits <= n; p++ {
		pre := [4]byte{run[p].val, run[p+1].val, run[p+2].val, run[p+3].val}
		for L := minPANDigits; L <= maxPANDigits && p+L <= n; L++ {
			if !brandPrefixOK(pre, L) {
				continue
			}
			q := p + L
			var sum int32
			if (q-1)%2 == 1 {
				sum = even[q] - even[p]
			} else {
				sum = odd[q] - odd[p]
			}
			if sum%10 != 0 {
				continue
			}
			count++
			if all {
				mark(int(run[0].start), int(run[n-1].end))
				continue
			}
			head, tail := m.keep(L)
			for k := p + head; k < q-tail; k++ {
				mark(int(run[k].start), int(run[k].end))
			}
		}
	}
	if all && count > 0 {
		for _, e := range run {
			mark(int(e.start), int(e.end))
		}
	}
	return count
}

// encoded finds hex and base64 encodings of ASCII digit strings that hold a PAN and marks them whole.
func (m *Masker) encoded(s string, depth int, mark func(a, b int)) int {
	count := 0
	// hex runs, both pair alignments: "34313131…" (encode(…, 'hex'), bytea output)
	for i := 0; i < len(s); {
		if !hexChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && hexChar(s[j]) {
			j++
		}
		if j-i >= 2*minPANDigits {
			for par := 0; par < 2; par++ {
				if dec := decodeHex(s[i+par : j]); m.holdsPAN(dec, depth) {
					mark(i, j)
					count++
					break
				}
			}
		}
		i = j
	}
	// hex pairs one by one: "\x34\x31…", "0x34, 0x31, …", "34 31 31 …"
	var pairs []byte
	first, last := -1, 0
	flush := func() {
		if len(pairs) >= minPANDigits && m.holdsPAN(string(pairs), depth) {
			mark(first, last)
			count++
		}
		pairs, first = pairs[:0], -1
	}
	for i := 0; i < len(s); {
		switch {
		case i+1 < len(s) && (s[i] == '\\' || s[i] == '0') && (s[i+1] == 'x' || s[i+1] == 'X') &&
			i+3 < len(s) && hexChar(s[i+2]) && hexChar(s[i+3]) && (i+4 == len(s) || !hexChar(s[i+4])):
			i += 2 // a prefix of the pair that follows
		case i+1 < len(s) && hexChar(s[i]) && hexChar(s[i+1]) && (i == 0 || !alnum(s[i-1]) || s[i-1] == 'x' || s[i-1] == 'X') &&
			(i+2 == len(s) || !alnum(s[i+2])):
			if first < 0 {
				first = i
			}
			pairs = append(pairs, unhex(s[i])<<4|unhex(s[i+1]))
			i += 2
			last = i
		case alnum(s[i]):
			flush()
			i++
		default:
			i++
		}
	}
	flush()
	// base64 runs (standard and URL alphabets), at each of the four offsets a run may be cut at
	for i := 0; i < len(s); {
		if !base64Char(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && base64Char(s[j]) {
			j++
		}
		k := j
		for k < len(s) && s[k] == '=' {
			k++
		}
		if j-i >= 16 {
			for off := 0; off < 4 && j-i-off >= 16; off++ {
				if dec := decodeBase64(s[i+off : j]); m.holdsPAN(dec, depth) {
					mark(i, k)
					count++
					break
				}
			}
		}
		i = k
	}
	return count
}

// holdsPAN reports whether the decoded text d holds a PAN for the storage detector.
func (m *Masker) holdsPAN(d string, depth int) bool {
	digits := 0
	for i := 0; i < len(d) && digits < minPANDigits; i++ {
		if isDigit(d[i]) {
			digits++
		}
	}
	if digits < minPANDigits && !strings.ContainsFunc(d, func(r rune) bool { return r >= utf8.RuneSelf }) {
		return false
	}
	if _, f := m.Text(d); f.Count > 0 {
		return true
	}
	_, n := m.storedPass(d, false, depth+1)
	return n > 0
}

func hexChar(c byte) bool    { return isDigit(c) || (c|0x20)-'a' < 6 }
func alnum(c byte) bool      { return isDigit(c) || (c|0x20)-'a' < 26 }
func base64Char(c byte) bool { return alnum(c) || c == '+' || c == '/' || c == '-' || c == '_' }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return (c | 0x20) - 'a' + 10
}

// decodeHex decodes the whole pairs of h (an odd last character is dropped).
func decodeHex(h string) string {
	b := make([]byte, len(h)/2)
	for k := range b {
		b[k] = unhex(h[2*k])<<4 | unhex(h[2*k+1])
	}
	return string(b)
}

// decodeBase64 decodes s (padding removed) in the standard or URL alphabet, whichever s uses; a last
// single character, which encodes no whole byte, is dropped.
func decodeBase64(s string) string {
	if len(s)%4 == 1 {
		s = s[:len(s)-1]
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return ""
	}
	return string(b)
}
