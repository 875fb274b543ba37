package mask

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// middlePANs returns PANs of every brand and length whose hidden middle is all zeros, all nines, or one
// repeated digit, plus random ones: the PANs zero-filling returned unchanged (issue 12).
func middlePANs(r *rand.Rand) []string {
	var out []string
	for _, b := range brands {
		for _, L := range b.lengths {
			for _, fill := range []byte("0912345678") {
				for _, iin := range []int{b.lo, b.hi, b.lo + r.IntN(b.hi-b.lo+1)} {
					body := []byte(strconv.Itoa(iin))
					for len(body) < L-1 {
						body = append(body, fill)
					}
					// a random-looking tail keeps the middle as chosen: the last 4 are visible anyway
					out = append(out, string(body)+string(luhnCheckDigit(string(body))))
				}
			}
			for range 5 {
				p := genPAN(r, brandSpec{b.name, b.lo, b.hi, []int{L}})
				out = append(out, p)
			}
		}
	}
	return out
}

// maskedOK fails unless every digit run of masked (digits of any script) differs from pan and, where it
// has pan's length, fails Luhn.
func maskedOK(t *testing.T, what, pan, masked string) {
	t.Helper()
	runs := strings.FieldsFunc(masked, func(r rune) bool { _, ok := digitValue(r); return !ok })
	for _, run := range runs {
		d := onlyDigits(run)
		if strings.Contains(d, pan) {
			t.Errorf("%s: %s came back unchanged: %q", what, pan, masked)
		}
		if len(d) == len(pan) && naiveLuhn(d) {
			t.Errorf("%s: %s masked to %q, which passes Luhn", what, pan, masked)
		}
	}
}

// TestMaskedNumberNeverEqualsOriginal is the property of issue 12 item 1: for PANs of all brands and
// lengths with zero, nine and repeated middles, in every shape and every form a number takes (text
// and binary int8, numeric, float8, money, JSON numbers, arrays, binary COPY, unknown layouts, text),
// the masked value differs from the original and fails Luhn (or shows the text fill).
func TestMaskedNumberNeverEqualsOriginal(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 1))
	pans := middlePANs(r)
	for _, shape := range []Shape{ShapeFirst6Last4, ShapeFirst8Last4, ShapeLast4, ShapeFull} {
		m := newMasker(t, Config{Shape: shape})
		for _, pan := range pans {
			u, _ := strconv.ParseUint(pan, 10, 64)
			tag := string(shape) + " " + pan
			// text formats
			for _, c := range []struct {
				oid uint32
				in  string
			}{
				{oidInt8, pan}, {oidNumeric, pan}, {oidNumeric, pan + ".00"}, {oidText, pan}, {oidVarchar, "x " + pan},
				{oidJSON, "[" + pan + ",1]"}, {oidJSONB, `{"a":` + pan + `}`}, {oidJSON, `{"s":"` + pan + `"}`},
				{oidMoney, "$" + groupThousands(pan) + ".00"}, {1016, "{1," + pan + "}"}, {0, pan},
			} {
				v := []byte(c.in)
				if m.MaskValue(c.oid, 0, false, v) == 0 {
					t.Errorf("%s: text oid %d %q not masked", tag, c.oid, c.in)
					continue
				}
				maskedOK(t, tag+" text oid "+strconv.Itoa(int(c.oid)), pan, string(v))
			}
			// binary formats
			bins := []struct {
				oid uint32
				v   []byte
			}{
				{oidNumeric, encBin(t, oidNumeric, pgtype.Numeric{Int: new(big.Int).SetUint64(u), Valid: true})},
				{oidNumeric, encBin(t, oidNumeric, pgtype.Numeric{Int: new(big.Int).Mul(new(big.Int).SetUint64(u), big.NewInt(100)), Exp: -2, Valid: true})},
				{1231, encBin(t, 1231, []pgtype.Numeric{{Int: new(big.Int).SetUint64(u), Valid: true}})},
				{oidJSONB, append([]byte{1}, pan...)},
			}
			if u <= math.MaxInt64 {
				bins = append(bins, struct {
					oid uint32
					v   []byte
				}{oidInt8, encBin(t, oidInt8, int64(u))}, struct {
					oid uint32
					v   []byte
				}{1016, encBin(t, 1016, []int64{1, int64(u)})})
				if guessInt8(int64(u)) { // untyped 14/15-digit Maestro and Diners are not guessed (docs/masking.md)
					bins = append(bins, struct {
						oid uint32
						v   []byte
					}{0, encBin(t, oidInt8, int64(u))})
				}
			}
			if u < 1<<53 {
				bins = append(bins, struct {
					oid uint32
					v   []byte
				}{oidFloat8, encBin(t, oidFloat8, float64(u))})
			}
			if u <= math.MaxInt64/100 {
				money := make([]byte, 8)
				binary.BigEndian.PutUint64(money, u*100)
				bins = append(bins, struct {
					oid uint32
					v   []byte
				}{oidMoney, money})
			}
			for _, c := range bins {
				v := append([]byte(nil), c.v...)
				if m.MaskValue(c.oid, 1, false, v) == 0 {
					t.Errorf("%s: binary oid %d not masked", tag, c.oid)
					continue
				}
				render := c.oid
				if render == 0 {
					render = oidInt8
				}
				var s string
				switch render {
				case oidMoney:
					s = strconv.FormatInt(int64(binary.BigEndian.Uint64(v))/100, 10)
				case oidJSONB:
					s = string(v[1:])
				default:
					s = renderPG(t, render, v)
				}
				maskedOK(t, tag+" binary oid "+strconv.Itoa(int(c.oid)), pan, s)
			}
			// float text, as PostgreSQL prints a float8 of 16+ digits
			if u < 1<<53 {
				ft := []byte(strconv.FormatFloat(float64(u), 'e', -1, 64))
				ft = []byte(strings.Replace(string(ft), "e+", "e+", 1))
				if m.MaskValue(oidFloat8, 0, false, ft) == 0 {
					t.Errorf("%s: float text %q not masked", tag, ft)
				} else if f, err := strconv.ParseFloat(string(ft), 64); err != nil {
					t.Errorf("%s: masked float text %q no longer parses", tag, ft)
				} else {
					maskedOK(t, tag+" float text", pan, strconv.FormatUint(uint64(f), 10))
				}
			}
		}
	}
}

func groupThousands(d string) string {
	var b strings.Builder
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// TestNumFill pins numFill's choice on the PANs of the bug report.
func TestNumFill(t *testing.T) {
	m := newMasker(t, Config{})
	for _, c := range []struct{ in, want string }{
		{"5500000000000004", "5500000000010004"}, // zero-fill returned it unchanged
		{"4000000000000002", "4000000000010002"},
		{"4111111111111111", "4111110000001111"}, // zeros already fail Luhn: unchanged rule
	} {
		v := []byte(c.in)
		m.MaskValue(oidInt8, 0, false, v)
		if string(v) != c.want {
			t.Errorf("%s masked to %s, want %s", c.in, v, c.want)
		}
	}
}

// TestStoredDetector covers what the storage detector finds beyond the stream detector.
func TestStoredDetector(t *testing.T) {
	m := newMasker(t, Config{})
	pan := "4111111111111111"
	h := hex.EncodeToString([]byte(pan))
	for _, c := range []struct{ name, in string }{
		{"embedded in a longer run", "id 99" + pan + "12"},
		{"two embedded", "x 123" + pan + "5500000000000004" + "7"},
		{"punctuation", "4111.1111.1111.1111"},
		{"mixed punctuation", "4111/1111_1111:1111"},
		{"repeated spaces", "4111   1111   1111   1111"},
		{"nbsp", "4111\u00a01111\u00a01111\u00a01111"},
		{"zero width", "4111\u200b\u200c1111\u200d1111\u2060\ufeff1111"},
		{"ideographic space", "4111\u30001111\u30001111\u30001111"},
		{"fullwidth", "４１１１１１１１１１１１１１１１"},
		{"arabic-indic", "٤١١١١١١١١١١١١١١١"},
		{"mixed scripts", "4111١١١١1111１１１１"},
		{"array", "{4111,1111,1111,1111}"},
		{"json array of strings", `["4111","1111","1111","1111"]`},
		{"one digit per element", `[4,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]`},
		{"rows of a sample", "(4111) (1111) (1111) (1111)"},
		{"hex", "\\x" + h},
		{"hex upper", strings.ToUpper(h)},
		{"hex odd alignment", "7" + h},
		{"hex pairs", `\x34\x31\x31\x31\x31\x31\x31\x31\x31\x31\x31\x31\x31\x31\x31\x31`},
		{"hex 0x list", "0x34, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31, 0x31"},
		{"hex spaced", "34 31 31 31 31 31 31 31 31 31 31 31 31 31 31 31"},
		{"base64", "token " + base64.StdEncoding.EncodeToString([]byte(pan)) + " end"},
		{"base64 url raw", base64.RawURLEncoding.EncodeToString([]byte("card:" + pan))},
		{"base64 grouped", base64.StdEncoding.EncodeToString([]byte("4111 1111 1111 1111"))},
		{"base64 of hex", base64.StdEncoding.EncodeToString([]byte(h))},
		{"money text", "$4,111,111,111,111,111.00"},
		{"zero middle embedded", "77" + "5500000000000004"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, n := m.Stored(c.in)
			if n == 0 {
				t.Errorf("Stored(%q) found nothing", c.in)
			}
			if leak := storedLeak(out); leak != "" {
				t.Errorf("Stored(%q) = %q still holds %s", c.in, out, leak)
			}
			// idempotent: a stored text scanned again finds nothing more
			if again, k := m.Stored(out); k != 0 || again != out {
				t.Errorf("Stored is not idempotent on %q: %q, %d", out, again, k)
			}
		})
	}
	for _, clean := range []string{
		"SELECT id, status FROM orders WHERE id = 42 AND region = 'europe'",
		"order 20261127-0042 shipped",
		"",
		"plain words only, no digits at all",
	} {
		if out, n := m.Stored(clean); n != 0 || out != clean {
			t.Errorf("Stored(%q) = %q, %d: changed a text without card data", clean, out, n)
		}
	}
}

// storedLeak is an independent, brute-force reading of a stored text: every digit of any script joined
// across anything but letters, every window checked; plus hex and base64 decodings of its words.
func storedLeak(s string) string {
	var runs []string
	var cur []byte
	for _, r := range s {
		if v, ok := digitValue(r); ok {
			cur = append(cur, '0'+v)
		} else if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || r > 0x2fff && !isCJKSpace(r) {
			runs, cur = append(runs, string(cur)), nil
		}
	}
	runs = append(runs, string(cur))
	for _, d := range runs {
		if l := naiveLeak(d); l != "" {
			return l
		}
	}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !(r < 0x80 && (alnum(byte(r)) || r == '+' || r == '/')) }) {
		if b, err := hex.DecodeString(w[:len(w)/2*2]); err == nil && naiveLeak(string(b)) != "" {
			return "hex " + w
		}
		if b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(w, "=")[:len(strings.TrimRight(w, "="))/4*4]); err == nil && naiveLeak(onlyDigits(string(b))) != "" {
			return "base64 " + w
		}
	}
	return ""
}

func isCJKSpace(r rune) bool { return r == '\u3000' || (r >= 0xff10 && r <= 0xff19) || r == 0xfeff }

// TestSampleUsesStoredDetector: a value the stream passes (a PAN inside a longer digit run of an
// untagged text column) must not reach the sample, which is stored in the query.executed event.
func TestSampleUsesStoredDetector(t *testing.T) {
	s := newStream(t, Config{}, nil)
	s.Message('T', rowDesc(t, col{name: "ref", oid: oidText}, col{name: "hex", oid: oidText}))
	long := "9" + "5500000000000004" + "1"
	b64 := base64.StdEncoding.EncodeToString([]byte("5500000000000004"))
	row := dataRow(t, []byte(long), []byte(b64))
	s.Message('D', row)
	if v := decodeRow(t, row); string(v[0]) != long {
		t.Fatalf("the client stream changed %q to %q: the test needs a value the stream passes", long, v[0])
	}
	sm := s.Sample()
	if len(sm.Rows) != 1 {
		t.Fatalf("sample %+v", sm)
	}
	for _, v := range sm.Rows[0] {
		if l := storedLeak(v); l != "" {
			t.Errorf("sample value %q holds %s", v, l)
		}
	}
}
