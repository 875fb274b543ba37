package mask

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// pgEpoch is the origin of PostgreSQL's binary timestamps (microseconds since 2000-01-01 UTC).
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func binTimestamp(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.Sub(pgEpoch).Microseconds()))
}

// feedCopy sends data as one binary COPY, cut into CopyData messages at the given offsets.
func feedCopy(t *testing.T, data []byte, cuts ...int) (out []byte, n int) {
	t.Helper()
	s := newStream(t, Config{}, nil)
	s.Message('H', []byte{1, 0, 0})
	d := bytes.Clone(data)
	prev := 0
	for _, c := range append(cuts, len(d)) {
		n += s.Message('d', d[prev:c])
		prev = c
	}
	s.Message('c', nil)
	if s.Counts()[CountCopy] != n {
		t.Errorf("copy count %v, returned %d", s.Counts(), n)
	}
	return d, n
}

// copyFields splits masked binary COPY data back into its fields (independent of the walker).
func copyFields(t *testing.T, d []byte) [][]byte {
	t.Helper()
	p := 19 + int(binary.BigEndian.Uint32(d[15:]))
	var fs [][]byte
	for {
		fc := int(int16(binary.BigEndian.Uint16(d[p:])))
		p += 2
		if fc == -1 {
			return fs
		}
		for range fc {
			l := int(int32(binary.BigEndian.Uint32(d[p:])))
			p += 4
			if l < 0 {
				fs = append(fs, nil)
				continue
			}
			fs = append(fs, d[p:p+l])
			p += l
		}
	}
}

func TestCopyBinaryGuessesInt8AndNumeric(t *testing.T) {
	num := func(i int64, exp int32) []byte {
		x := new(big.Int).Mul(big.NewInt(i), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-exp)), nil))
		return encBin(t, oidNumeric, pgtype.Numeric{Int: x, Exp: exp, Valid: true})
	}
	ts := binTimestamp(time.Date(2026, 11, 27, 10, 8, 33, 123456000, time.UTC))
	data := binaryCopyData(
		[][]byte{encBin(t, oidInt4, int32(1)), encBin(t, oidInt8, int64(4111111111111111)), ts},
		[][]byte{encBin(t, oidInt4, int32(2)), num(378282246310005, 0), nil},                                            // Amex: 15 digits, leading group 0378
		[][]byte{encBin(t, oidInt4, int32(3)), num(5555555555554444, -2), encBin(t, oidInt8, int64(-4111111111111111))}, // numeric(30,2)
		[][]byte{encBin(t, oidFloat8, float64(6011000990139424)), encBin(t, oidInt8, int64(42))},
		[][]byte{encBin(t, oidInt8, int64(4400151234567897863)), encBin(t, oidFloat8, 1234.56)}, // a 19-digit Visa is also a plausible float8
	)
	whole, n := feedCopy(t, data)
	if n != 6 {
		t.Fatalf("masked %d values, want 6", n)
	}
	fs := copyFields(t, whole)
	var i8 int64
	var f8 float64
	var nm pgtype.Numeric
	check := func(k int, oid uint32, dst any, want string) {
		t.Helper()
		if err := typeMap.Scan(oid, 1, fs[k], dst); err != nil {
			t.Fatalf("field %d no longer decodes: %v", k, err)
		}
		var got string
		switch v := dst.(type) {
		case *int64:
			got = fmt.Sprint(*v)
		case *float64:
			got = fmt.Sprintf("%.0f", *v)
		case *pgtype.Numeric:
			b, _ := v.Value()
			got = fmt.Sprint(b)
		}
		if got != want {
			t.Errorf("field %d = %s, want %s", k, got, want)
		}
	}
	check(1, oidInt8, &i8, "4111110000001111")
	check(4, oidNumeric, &nm, "378282000000005")
	check(7, oidNumeric, &nm, "5555550000004444.00")
	check(8, oidInt8, &i8, "-4111110000001111")
	check(9, oidFloat8, &f8, "6011000000009424")
	check(10, oidInt8, &i8, "42")
	check(11, oidInt8, &i8, "4400150000000007863")
	check(12, oidFloat8, &f8, "1235") // 1234.56 untouched (%.0f)
	if !bytes.Equal(fs[2], ts) || naiveLeak(string(whole)) != "" {
		t.Errorf("timestamp changed or text PAN left: %x", whole)
	}

	// Cut at every offset: where the cut falls outside a value (framing, lengths, counts), the result is
	// identical; inside a value, the bytes already sent stay as they were and the rest is masked as in
	// the whole field.
	for cut := 1; cut < len(data); cut++ {
		d, _ := feedCopy(t, data, cut)
		if !bytes.Equal(d[cut:], whole[cut:]) {
			t.Fatalf("cut at %d:\n got %x\nwant %x", cut, d, whole)
		}
		for i := range cut { // sent before the cut: masked as in the whole, or (in the cut value) as it was
			if d[i] != whole[i] && d[i] != data[i] {
				t.Fatalf("cut at %d: byte %d is %x", cut, i, d[i])
			}
		}
	}
	// PostgreSQL's own framing: header with the first tuple, one CopyData per tuple, trailer alone.
	var cuts []int
	p := 19
	for range 5 {
		fc := int(binary.BigEndian.Uint16(data[p:]))
		p += 2
		for range fc {
			l := int(int32(binary.BigEndian.Uint32(data[p:])))
			p += 4 + max(l, 0)
		}
		cuts = append(cuts, p)
	}
	if d, n := feedCopy(t, data, cuts...); n != 6 || !bytes.Equal(d, whole) {
		t.Errorf("one CopyData per tuple: masked %d, %x", n, d)
	}
	// Cut in three pieces inside the int8 PAN and the numeric: still masked from the cut on.
	for a := 19; a < 60; a++ {
		d, _ := feedCopy(t, data, a, a+3, a+5)
		if !bytes.Equal(d[a+5:], whole[a+5:]) {
			t.Fatalf("three cuts at %d: %x", a, d)
		}
	}
}

func TestCopyBinaryCleanUnchanged(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var rows [][][]byte
	for i := range 500 {
		ts := time.Date(2023+r.IntN(8), time.Month(1+r.IntN(12)), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e6)*1000, time.UTC)
		rows = append(rows, [][]byte{
			encBin(t, oidInt8, int64(100000+i)), binTimestamp(ts), encBin(t, oidInt4, int32(r.Uint32())),
			encBin(t, oidFloat8, float64(r.IntN(1e7))/100), encBin(t, oidNumeric, pgtype.Numeric{Int: big.NewInt(r.Int64N(1e9)), Exp: -2, Valid: true}),
			encBin(t, oidDate, pgtype.Date{Time: ts, Valid: true}), []byte("order 2026-11-27 12345"),
		})
	}
	data := binaryCopyData(rows...)
	for _, cuts := range [][]int{nil, {19}, {20, 21, 22, 23, 24}, {100, 101, 333, 1000, 4000}} {
		if d, n := feedCopy(t, data, cuts...); n != 0 || !bytes.Equal(d, data) {
			t.Errorf("cuts %v: clean binary COPY changed (%d masked)", cuts, n)
		}
	}
	// allocation-free on clean tuples
	s := newStream(t, Config{}, nil)
	s.Message('H', []byte{1, 0, 0})
	s.Message('d', bytes.Clone(data[:19]))
	tuple := binaryCopyData(rows[0])[19:]
	tuple = tuple[:len(tuple)-2]
	if a := testing.AllocsPerRun(200, func() { s.Message('d', tuple) }); a != 0 {
		t.Errorf("binary COPY tuple allocates %v times", a)
	}
}

// TestFalsePositivesBinaryCopy measures how often PAN-free 8-byte binary COPY fields are masked by the
// int8/float8 guess (binary COPY carries no types, so every 8-byte field is read both ways). The rates
// are reported in docs/masking.md (go test -run TestFalsePositivesBinaryCopy -v ./internal/mask).
func TestFalsePositivesBinaryCopy(t *testing.T) {
	const n = 100000
	m := newMasker(t, Config{})
	r := rand.New(rand.NewPCG(31, 32))
	us := func(from, to int) func() uint64 {
		a := time.Date(from, 1, 1, 0, 0, 0, 0, time.UTC).Sub(pgEpoch).Microseconds()
		b := time.Date(to, 1, 1, 0, 0, 0, 0, time.UTC).Sub(pgEpoch).Microseconds()
		return func() uint64 { return uint64(a + r.Int64N(b-a)) }
	}
	cases := []struct {
		name string
		gen  func() uint64
		max  float64
	}{
		{"random 64 bits", r.Uint64, 0.04},
		{"timestamp 2000–2030 (µs since 2000)", us(2000, 2030), 0.005},
		{"timestamp 2000–2009", us(2000, 2009), 0.005},
		{"timestamp 2009–2013", us(2009, 2013), 0.02},
		{"timestamp 2013–2017", us(2013, 2017), 0},
		{"timestamp 2017–2023", us(2017, 2023), 0},
		{"timestamp 2023–2031", us(2023, 2031), 0},
		{"timestamp 2031–2095", us(2031, 2095), 0.03},
		{"int8 sequential id < 10^11", func() uint64 { return uint64(r.Int64N(1e11)) }, 0},
		{"int8 random positive (snowflake-like)", func() uint64 { return r.Uint64() >> 1 }, 0.04},
		{"float8 amount 0.00–10^9", func() uint64 { return math.Float64bits(float64(r.Int64N(1e11)) / 100) }, 0},
		{"float8 computed (full precision)", func() uint64 { return math.Float64bits(r.NormFloat64() * math.Pow(10, float64(r.IntN(30)))) }, 0.12},
		{"float8 epoch milliseconds 2001–2033 (13 digits)", func() uint64 { return math.Float64bits(float64(1e12 + r.Int64N(1e12))) }, 0},
		{"float8 decimal, 1–12 significant digits", func() uint64 {
			f, _ := strconv.ParseFloat(fmt.Sprintf("%de%d", r.Int64N(int64(math.Pow10(1+r.IntN(12)))), r.IntN(36)-20), 64)
			return math.Float64bits(f)
		}, 0.01},
	}
	var report strings.Builder
	for _, c := range cases {
		hits := 0
		var example string
		for range n {
			v := binary.BigEndian.AppendUint64(nil, c.gen())
			orig := int64(binary.BigEndian.Uint64(v))
			if m.guessValue(v) > 0 {
				hits++
				example = fmt.Sprint(orig)
			}
		}
		rate := float64(hits) / n
		fmt.Fprintf(&report, "| %s | %d | %d | %.3f%% | %s |\n", c.name, n, hits, 100*rate, example)
		if rate > c.max {
			t.Errorf("%s: false-positive rate %.4f above %.4f", c.name, rate, c.max)
		}
	}
	// the other side: 19-digit int8 PANs whose float8 reading is a short decimal are missed
	missed, tried := 0, 0
	for range n {
		pre := []string{"4", "50", "62", "6011", "35", "36"}[r.IntN(6)]
		p := withLuhn(pre + digitsN(r, 18-len(pre)))
		x, err := strconv.ParseInt(p, 10, 64)
		if err != nil || !isPANASCII([]byte(p)) { // above int8's range, or not a brand's IIN (35…)
			continue
		}
		tried++
		if m.guessValue(binary.BigEndian.AppendUint64(nil, uint64(x))) == 0 {
			missed++
		}
	}
	fmt.Fprintf(&report, "| (misses) 19-digit int8 PANs (4, 50, 62, 6011, 35, 36) not masked | %d | %d | %.3f%% | |\n", tried, missed, 100*float64(missed)/float64(tried))
	if missed > n/1000 {
		t.Errorf("%d of %d 19-digit int8 PANs missed", missed, n)
	}
	t.Logf("8-byte binary COPY fields:\n| corpus | values | masked | rate | example (as int8) |\n|---|---|---|---|---|\n%s", report.String())
}
