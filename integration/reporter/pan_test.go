package reporter_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// scanForPAN fails the test if any file under dir holds a full PAN. It is written independently of the
// gateway's masker: digit runs of 12–19 digits, plain or grouped with single spaces or dashes, checked with
// Luhn and the brand IIN and length table of docs/pci.md.
func scanForPAN(t *testing.T, dir string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, pan := range findPANs(identifiers.ReplaceAll(b, []byte("<id>"))) {
			t.Errorf("%s holds a full PAN %s…%s", p, pan[:6], pan[len(pan)-4:])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files scanned in %s", dir)
	}
}

// identifiers are what pangate mints itself (UUIDs, hex SHA-256 digests, key ids): a UUID's last group or a
// run inside a digest can pass IIN + length + Luhn, and they are not card data.
var identifiers = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{64}|[0-9a-f]{32}`)

func findPANs(b []byte) []string {
	var out []string
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i := 0; i < len(b); i++ {
		if !isDigit(b[i]) || (i > 0 && isDigit(b[i-1])) {
			continue
		}
		// Collect a run of digits allowing single separators between them.
		var digits []byte
		for j := i; j < len(b); j++ {
			if isDigit(b[j]) {
				digits = append(digits, b[j])
				continue
			}
			if (b[j] == ' ' || b[j] == '-') && j+1 < len(b) && isDigit(b[j+1]) && j > i && isDigit(b[j-1]) {
				continue
			}
			break
		}
		// Every window of 12–19 digits inside the run is a candidate (PANs may be concatenated).
		for s := 0; s < len(digits); s++ {
			for n := 12; n <= 19 && s+n <= len(digits); n++ {
				c := string(digits[s : s+n])
				if brand(c) && luhn(c) {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

func luhn(s string) bool {
	sum, alt := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if alt {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		alt = !alt
	}
	return sum%10 == 0
}

func prefixIn(s string, digits int, lo, hi int) bool {
	if len(s) < digits {
		return false
	}
	v, _ := strconv.Atoi(s[:digits])
	return v >= lo && v <= hi
}

// brand reports whether s has the IIN and length of a card brand in docs/pci.md.
func brand(s string) bool {
	n := len(s)
	switch {
	case s[0] == '4' && (n == 13 || n == 16 || n == 19): // Visa
		return true
	case (prefixIn(s, 2, 51, 55) || prefixIn(s, 4, 2221, 2720)) && n == 16: // Mastercard
		return true
	case (prefixIn(s, 2, 34, 34) || prefixIn(s, 2, 37, 37)) && n == 15: // Amex
		return true
	case (prefixIn(s, 4, 6011, 6011) || prefixIn(s, 6, 622126, 622925) || prefixIn(s, 3, 644, 649) || prefixIn(s, 2, 65, 65)) && n >= 16 && n <= 19: // Discover
		return true
	case prefixIn(s, 4, 3528, 3589) && n >= 16 && n <= 19: // JCB
		return true
	case (prefixIn(s, 3, 300, 305) || prefixIn(s, 4, 3095, 3095) || prefixIn(s, 2, 36, 36) || prefixIn(s, 2, 38, 39)) && n >= 14 && n <= 19: // Diners
		return true
	case prefixIn(s, 2, 62, 62) && n >= 16 && n <= 19: // UnionPay
		return true
	case (prefixIn(s, 2, 50, 50) || prefixIn(s, 2, 56, 69)) && n >= 12 && n <= 19: // Maestro
		return true
	}
	return false
}

func TestPANCheckerFindsWhatItShould(t *testing.T) {
	for _, s := range []string{"4111111111111111", "4111 1111 1111 1111", "x5500-0000-0000-0004y", `{"a":"378282246310005"}`} {
		if len(findPANs([]byte(s))) == 0 {
			t.Errorf("missed PAN in %q", s)
		}
	}
	for _, s := range []string{"411111******1111", "2026-11-02T09:00:10.000000Z", "1234567890123", "01a21cac-2204-7665-aac2-613163876399"} {
		if p := findPANs(identifiers.ReplaceAll([]byte(s), []byte("<id>"))); len(p) != 0 {
			t.Errorf("false PAN %v in %q", p, s)
		}
	}
}
