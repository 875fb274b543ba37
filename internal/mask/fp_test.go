package mask

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// fpCase generates one kind of PAN-free value that a naive Luhn scanner confuses with card numbers.
type fpCase struct {
	name string
	gen  func(r *rand.Rand) string
	max  float64 // highest acceptable false-positive rate (fraction); the measured value goes to docs
}

func digitsN(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

func withLuhn(body string) string { return body + string(luhnCheckDigit(body)) }

var fpCases = []fpCase{
	{"timestamp ISO 8601", func(r *rand.Rand) string {
		return fmt.Sprintf("2026-%02d-%02d %02d:%02d:%02d.%06d+00", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e6))
	}, 0},
	{"timestamp compact yyyymmddhhmmss[fff]", func(r *rand.Rand) string {
		s := fmt.Sprintf("2026%02d%02d%02d%02d%02d", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
		if r.IntN(2) == 0 {
			s += fmt.Sprintf("%03d", r.IntN(1000))
		}
		return s
	}, 0},
	{"unix time s/ms/µs/ns", func(r *rand.Rand) string {
		t := int64(1.6e9 + r.Float64()*3e8)
		return strconv.FormatInt(t*[]int64{1, 1e3, 1e6, 1e9}[r.IntN(4)]+r.Int64N(1000), 10)
	}, 0},
	{"order id, random 12–19 digits", func(r *rand.Rand) string {
		return strconv.Itoa(1+r.IntN(9)) + digitsN(r, 11+r.IntN(8))
	}, 0.04},
	{"order id, sequential 12 digits", func(r *rand.Rand) string {
		return strconv.FormatInt(100000000000+r.Int64N(1e9), 10)
	}, 0},
	{"phone E.164 with + (+1 +44 +49 +62 +63 +86 +91)", func(r *rand.Rand) string {
		cc := []string{"1", "44", "49", "62", "63", "86", "91"}[r.IntN(7)]
		return "+" + cc + " " + digitsN(r, 3) + " " + digitsN(r, 4) + " " + digitsN(r, 15-len(cc)-7-r.IntN(3))
	}, 0},
	{"phone national digits only (10–13 digits)", func(r *rand.Rand) string {
		return "0" + digitsN(r, 9+r.IntN(4))
	}, 0.02},
	{"phone international digits without + (62/63/49/44/1)", func(r *rand.Rand) string {
		cc := []string{"1", "44", "49", "62", "63"}[r.IntN(5)]
		return cc + digitsN(r, 12-len(cc)+r.IntN(2))
	}, 0.15},
	{"IMEI, TAC 35/86/01/99 (Luhn-valid, 15 digits)", func(r *rand.Rand) string {
		return withLuhn([]string{"35", "86", "01", "99"}[r.IntN(4)] + digitsN(r, 12))
	}, 0},
	{"IMEI, any first digits (Luhn-valid, 15 digits)", func(r *rand.Rand) string {
		return withLuhn(digitsN(r, 14))
	}, 0.5},
	{"ICCID 89… (Luhn-valid, 19–20 digits)", func(r *rand.Rand) string {
		return withLuhn("89" + digitsN(r, 16+r.IntN(2)))
	}, 0},
	{"UUID", func(r *rand.Rand) string {
		return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16), r.Uint64()&(1<<48-1))
	}, 0.003},
}

// TestFalsePositives measures how often PAN-free values are masked, in JSON context. The rates are
// reported in docs/masking.md (go test -run TestFalsePositives -v ./internal/mask).
func TestFalsePositives(t *testing.T) {
	const n = 20000
	m := newMasker(t, Config{})
	r := rand.New(rand.NewPCG(21, 22))
	var report strings.Builder
	for _, c := range fpCases {
		hits, naive := 0, 0
		var example string
		for range n {
			v := c.gen(r)
			if naiveLuhnOnly(v) {
				naive++
			}
			b := []byte(`{"v":"` + v + `"}`)
			if m.MaskInPlace(b) > 0 {
				hits++
				example = v
			}
		}
		rate := float64(hits) / n
		fmt.Fprintf(&report, "| %s | %d | %d | %.2f%% | %.2f%% | %s |\n", c.name, n, hits, 100*rate, 100*float64(naive)/n, example)
		if rate > c.max {
			t.Errorf("%s: false-positive rate %.4f above %.4f (e.g. %s)", c.name, rate, c.max, example)
		}
	}
	t.Logf("false positives:\n| corpus | values | masked | rate | Luhn-only rate | example masked |\n|---|---|---|---|---|---|\n%s", report.String())
}

// naiveLuhnOnly is the scanner pangate does not use, for comparison: any 12–19 digit run (spaces and
// dashes removed) that passes Luhn.
func naiveLuhnOnly(v string) bool {
	v = strings.NewReplacer(" ", "", "-", "").Replace(v)
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && isDigit(v[j]) {
			j++
		}
		if j-i >= 12 && j-i <= 19 && naiveLuhn(v[i:j]) {
			return true
		}
		i = j + 1
	}
	return false
}
