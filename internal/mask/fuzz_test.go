package mask

import (
	"bytes"
	"testing"
)

// FuzzMaskInPlace: hostile bytes never panic, never change length, only ever turn bytes into the fill,
// and a second pass can only hide more.
func FuzzMaskInPlace(f *testing.F) {
	for _, s := range []string{
		"4111111111111111", "4111 1111 1111 1111", "3782-822463-10005", "41111111111111115500000000000004",
		"%B4111111111111111^DOE/JOHN^2512101?", ";4111111111111111=2512101?", "2026-11-27 10:08:33",
		`{"pan":"6011000990139424"}`, "89014103211118510720", "490154203237518",
	} {
		f.Add([]byte(s))
	}
	m, err := New(Config{FingerprintKey: []byte("k")})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		b := bytes.Clone(in)
		n := m.MaskInPlace(b)
		if len(b) != len(in) {
			t.Fatal("length changed")
		}
		changed := 0
		for i := range b {
			if b[i] != in[i] {
				changed++
				if b[i] != '*' {
					t.Fatalf("byte %d changed to %q, not the fill", i, b[i])
				}
			}
		}
		if (n == 0) != (changed == 0) && m.shape != ShapeFull {
			t.Fatalf("masked %d but changed %d bytes", n, changed)
		}
		c := bytes.Clone(b)
		m.MaskInPlace(c)
		for i := range c {
			if c[i] != b[i] && c[i] != '*' {
				t.Fatalf("second pass revealed byte %d", i)
			}
		}
		s, fnd := m.Text(string(in))
		if s != string(b) || fnd.Count != n || len(fnd.Fingerprints) != n {
			t.Fatalf("Text disagrees with MaskInPlace: %q vs %q (%d vs %d)", s, b, fnd.Count, n)
		}
	})
}

// FuzzStreamMessage: hostile message bodies, after one of several stream states, never panic and never
// change the body length.
func FuzzStreamMessage(f *testing.F) {
	f.Add(byte('D'), byte(1), dataRow(f, []byte("4111111111111111"), nil, []byte("x")))
	f.Add(byte('D'), byte(2), dataRow(f, encBin(f, oidInt8, int64(4111111111111111)), encBin(f, oidText, "5500000000000004"),
		encBin(f, oidNumeric, int64(4111111111111111)), encBin(f, 1016, []int64{4111111111111111}), encBin(f, oidJSONB, "x")))
	f.Add(byte('d'), byte(3), []byte("1\t4111111111111111\n"))
	f.Add(byte('d'), byte(4), binaryCopyData([][]byte{[]byte("4111111111111111"), nil}))
	f.Add(byte('d'), byte(4), binaryCopyData([][]byte{encBin(f, oidInt8, int64(4111111111111111)), encBin(f, oidNumeric, int64(378282246310005)),
		encBin(f, oidFloat8, float64(6011000990139424)), encBin(f, 1016, []int64{5555555555554444})}))
	f.Add(byte('d'), byte(4), binaryCopyData([][]byte{encBin(f, oidInt8, int64(4111111111111111))})[:27])    // cut inside the int8
	f.Add(byte('d'), byte(4), binaryCopyData([][]byte{encBin(f, oidNumeric, int64(5555555555554444))})[:21]) // cut inside a length
	f.Add(byte('E'), byte(0), []byte("SERROR\x00M4111111111111111\x00\x00"))
	f.Add(byte('A'), byte(0), []byte("\x00\x00\x00\x01c\x004111111111111111\x00"))
	f.Add(byte('T'), byte(0), rowDesc(f, col{name: "pan", oid: oidText}))
	f.Add(byte('D'), byte(2), []byte{0, 5, 0, 0, 0, 8, 0x40, 0, 0, 0, 0, 0, 0, 0})
	f.Add(byte('D'), byte(1), dataRow(f, []byte("x"), []byte("1"), nil, []byte(`\x34313131313131313131313131313131`), []byte("4.111111111111111e+15")))
	cat := fakeCatalog{{1, 1}: {"t", "pan"}}
	m, err := New(Config{Columns: []string{"t.pan"}})
	if err != nil {
		f.Fatal(err)
	}
	descs := [][]byte{
		nil,
		rowDesc(f, col{name: "a", oid: oidText}, col{name: "b", oid: oidInt8}, col{name: "c", oid: oidText, table: 1, att: 1},
			col{name: "by", oid: oidBytea}, col{name: "f", oid: oidFloat8}),
		rowDesc(f, col{name: "i8", oid: oidInt8, format: 1}, col{name: "t", oid: oidText, format: 1},
			col{name: "n", oid: oidNumeric, format: 1}, col{name: "arr", oid: 1016, format: 1}, col{name: "jb", oid: oidJSONB, format: 1},
			col{name: "f8", oid: oidFloat8, format: 1}, col{name: "r", oid: oidRecord, format: 1}, col{name: "p", oid: oidText, format: 1, table: 1, att: 1}),
	}
	f.Fuzz(func(t *testing.T, typ byte, state byte, in []byte) {
		s := m.NewStream(cat)
		switch state % 5 {
		case 1, 2:
			s.Message('T', bytes.Clone(descs[state%5]))
		case 3:
			s.Message('H', []byte{0, 0, 0})
		case 4:
			s.Message('H', []byte{1, 0, 0})
		}
		b := bytes.Clone(in)
		s.Message(typ, b)
		if len(b) != len(in) {
			t.Fatal("length changed")
		}
		// the same body again, as a second message of the same stream
		s.Message(typ, b)
		_ = s.Counts()
		_ = s.Sample()
	})
}
