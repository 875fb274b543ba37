package panleak_test

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// TestDetector checks that the detector sees every encoding the corpus relies on (pgx's own binary
// encoders as the reference) and none of the masked forms, so that a green TestPANLeak means something.
func TestDetector(t *testing.T) {
	pans := []string{"4111111111111111", "378282246310005", "6011000990139424", "5019717010103742", "3530111333300000"}
	d := newDetector(pans)
	m := pgtype.NewMap()
	for _, p := range pans {
		n, _ := new(big.Int).SetString(p, 10)
		num, err := m.Encode(pgtype.NumericOID, pgtype.BinaryFormatCode, pgtype.Numeric{Int: n, Valid: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		i8 := binary.BigEndian.AppendUint64(nil, n.Uint64())
		f8 := binary.BigEndian.AppendUint64(nil, math.Float64bits(float64(n.Uint64())))
		rev := []byte(p)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		grouped := p[:4] + " " + p[4:8] + "-" + p[8:12] + " " + p[12:]
		for name, b := range map[string][]byte{
			"digits": []byte("x" + p + "y"), "grouped": []byte(grouped), "int8": i8, "numeric": num,
			"hex": []byte(`\x` + hexOf(p)), "reversed": rev, "base64": []byte(base64.StdEncoding.EncodeToString([]byte(p))),
		} {
			if len(d.scan(name, b)) == 0 {
				t.Errorf("%s of %s not detected", name, maskPAN(p))
			}
		}
		if float64(n.Uint64()) == float64(int64(n.Uint64())) && len(d.scan("float8", f8)) == 0 {
			t.Errorf("float8 of %s not detected", maskPAN(p))
		}
		for _, masked := range []string{maskPAN(p), p[:6] + "000000" + p[len(p)-4:], "**** **** **** " + p[len(p)-4:]} {
			if f := d.scan("masked", []byte(masked)); len(f) != 0 {
				t.Errorf("masked form %q flagged: %v", masked, f)
			}
		}
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(b)
}
