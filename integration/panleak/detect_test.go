package panleak_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

// pattern is one way a seeded PAN can be written into bytes.
type pattern struct {
	pan  string
	kind string
	b    []byte
}

// detector finds seeded PANs in any byte stream, in every encoding the corpus can produce on the wire:
// ASCII digits (also grouped with single spaces or dashes), hex of the ASCII digits (bytea), binary int8,
// binary float8, binary numeric digit groups, and the encodings only column tags cover (reversed, base64).
type detector struct{ pats []pattern }

func newDetector(pans []string) *detector {
	d := &detector{}
	for _, p := range pans {
		add := func(kind string, b []byte) { d.pats = append(d.pats, pattern{pan: p, kind: kind, b: b}) }
		add("digits", []byte(p))
		add("hex of the digits", []byte(hex.EncodeToString([]byte(p))))
		rev := []byte(p)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		add("reversed digits", rev)
		add("base64 of the digits", []byte(strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(p)), "=")))
		n, err := strconv.ParseUint(p, 10, 64)
		if err == nil && n <= math.MaxInt64 {
			add("binary int8", binary.BigEndian.AppendUint64(nil, n))
			if f := float64(n); uint64(f) == n {
				add("binary float8", binary.BigEndian.AppendUint64(nil, math.Float64bits(f)))
			}
		}
		if g := numericGroups(p); len(g) >= 6 {
			add("binary numeric digit groups", g)
		}
	}
	return d
}

// numericGroups is the base-10000 digit-group part of PostgreSQL's binary numeric for the integer p
// (trailing zero groups are dropped, as PostgreSQL does).
func numericGroups(p string) []byte {
	for len(p)%4 != 0 {
		p = "0" + p
	}
	var groups []uint16
	for i := 0; i < len(p); i += 4 {
		v, _ := strconv.Atoi(p[i : i+4])
		groups = append(groups, uint16(v))
	}
	for len(groups) > 0 && groups[len(groups)-1] == 0 {
		groups = groups[:len(groups)-1]
	}
	var b []byte
	for _, g := range groups {
		b = binary.BigEndian.AppendUint16(b, g)
	}
	return b
}

// finding is one seeded PAN found somewhere; String never prints the full PAN.
type finding struct {
	where string
	pan   string
	kind  string
	off   int
}

func (f finding) String() string {
	return fmt.Sprintf("%s: PAN %s as %s at offset %d", f.where, maskPAN(f.pan), f.kind, f.off)
}

// scan reports every pattern found in b, also after removing single spaces and dashes between digits.
func (d *detector) scan(where string, b []byte) []finding {
	var out []finding
	joined := joinGroups(b)
	for _, p := range d.pats {
		if i := bytes.Index(b, p.b); i >= 0 {
			out = append(out, finding{where, p.pan, p.kind, i})
		} else if p.kind == "digits" {
			if i := bytes.Index(joined, p.b); i >= 0 {
				out = append(out, finding{where, p.pan, "grouped digits", i})
			}
		}
	}
	return out
}

// joinGroups drops a single space or dash that sits between two digits ("4111 1111-1111 1111").
func joinGroups(b []byte) []byte {
	out := make([]byte, 0, len(b))
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	for i, c := range b {
		if (c == ' ' || c == '-') && i > 0 && i+1 < len(b) && isDigit(b[i-1]) && isDigit(b[i+1]) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// maskPAN shows a PAN as first six + last four, for test output.
func maskPAN(p string) string {
	if len(p) < 12 {
		return strings.Repeat("*", len(p))
	}
	return p[:6] + strings.Repeat("*", len(p)-10) + p[len(p)-4:]
}

// redact masks every seeded PAN in s, for printing logs and outputs in failure messages.
func redact(s string, pans []string) string {
	for _, p := range pans {
		s = strings.ReplaceAll(s, p, maskPAN(p))
	}
	return s
}

// flatten renders a value pgx decoded as text (numbers as plain integers, so a float8 or numeric holding a
// PAN shows its digits), values separated by NUL so that neighbours never join.
func flatten(sb *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
	case string:
		sb.WriteString(x)
	case []byte:
		sb.Write(x)
	case int64:
		sb.WriteString(strconv.FormatInt(x, 10))
	case int32:
		sb.WriteString(strconv.FormatInt(int64(x), 10))
	case float64:
		sb.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case float32:
		sb.WriteString(strconv.FormatFloat(float64(x), 'f', -1, 32))
	case pgtype.Numeric:
		if x.Valid && x.Int != nil {
			n := new(big.Int).Set(x.Int)
			if x.Exp > 0 {
				n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(x.Exp)), nil))
			}
			sb.WriteString(n.String())
			sb.WriteByte(0)
			sb.WriteString(x.Int.String())
		}
	case []any:
		for _, e := range x {
			flatten(sb, e)
			sb.WriteByte(0)
		}
	case map[string]any:
		for k, e := range x {
			sb.WriteString(k)
			sb.WriteByte(0)
			flatten(sb, e)
			sb.WriteByte(0)
		}
	default:
		fmt.Fprintf(sb, "%v", x)
	}
	sb.WriteByte(0)
}
