package query

import (
	"strings"
	"testing"
)

func special(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }

// checkStrEnd: strEnd skips only ordinary bytes and stops no later than the first special one.
func checkStrEnd(t *testing.T, s string, i int) {
	t.Helper()
	first := len(s)
	for j := i; j < len(s); j++ {
		if special(s[j]) {
			first = j
			break
		}
	}
	got := strEnd(s, i)
	if got < i || got > first {
		t.Fatalf("strEnd(%q, %d) = %d, the first quote, backslash or control byte is at %d", s, i, got, first)
	}
}

// TestStrEndStopsAtEverySpecialByte: each of the bytes str must see (quote, backslash, every control
// character), and the bytes next to them (0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xff), at every position of
// a word, after ordinary bytes of every high-bit kind.
func TestStrEndStopsAtEverySpecialByte(t *testing.T) {
	var stops []byte
	for c := 0; c < 0x20; c++ {
		stops = append(stops, byte(c))
	}
	stops = append(stops, '"', '\\', 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff)
	for _, fill := range []string{"a", "é", "\x7f", "\xff", " "} {
		for _, c := range stops {
			for pos := 0; pos < 24; pos++ {
				s := []byte(strings.Repeat(fill, 24))[:24]
				s[pos] = c
				for i := 0; i < 9; i++ {
					checkStrEnd(t, string(s), i)
				}
			}
		}
	}
}

func FuzzStrEnd(f *testing.F) {
	f.Add(`0123456789abcdef0123456789abcdef","id":"`, 0)
	f.Add("abcdefgh\x1fijklmnop", 1)
	f.Add(`abcdefghijklmn\"op`, 3)
	f.Fuzz(func(t *testing.T, s string, i int) {
		if i < 0 || i > len(s) {
			return
		}
		checkStrEnd(t, s, i)
	})
}
