package mask

import (
	"encoding/binary"
	"unicode"
	"unicode/utf8"
)

// This file holds the value forms content scanning reads beyond plain ASCII digits and the basic binary
// types: money (a PAN as cents or as whole units), ranges and multiranges (binary range_send /
// multirange_send), and text with Unicode digits or spaces (fullwidth digits, NBSP, zero-width
// characters). docs/masking.md lists them.

// rangeElem returns the element type of a built-in range type, 0 for other types (pg_range.dat).
func rangeElem(oid uint32) uint32 {
	switch oid {
	case 3904: // int4range
		return oidInt4
	case 3906: // numrange
		return oidNumeric
	case 3908: // tsrange
		return oidTimestamp
	case 3910: // tstzrange
		return oidTimestampTZ
	case 3912: // daterange
		return oidDate
	case 3926: // int8range
		return oidInt8
	}
	return 0
}

// multirangeElem returns the element type of the ranges of a built-in multirange type, 0 for others.
func multirangeElem(oid uint32) uint32 {
	switch oid {
	case 4451:
		return oidInt4
	case 4532:
		return oidNumeric
	case 4533:
		return oidTimestamp
	case 4534:
		return oidTimestampTZ
	case 4535:
		return oidDate
	case 4536:
		return oidInt8
	}
	return 0
}

// Range flags of PostgreSQL's binary range format (utils/rangetypes.h).
const (
	rangeEmpty  = 0x01
	rangeLBInf  = 0x08
	rangeUBInf  = 0x10
	rangeLBNull = 0x20
	rangeUBNull = 0x40
)

// rangeBounds splits a binary range (flags byte, then an int32-length-prefixed value per present bound)
// into its bounds. ok is false unless v is exactly one well-formed range.
func rangeBounds(v []byte) (lower, upper []byte, ok bool) {
	if len(v) < 1 {
		return nil, nil, false
	}
	flags := v[0]
	if flags&rangeEmpty != 0 {
		return nil, nil, len(v) == 1
	}
	p := 1
	read := func() ([]byte, bool) {
		if p+4 > len(v) {
			return nil, false
		}
		l := int32(binary.BigEndian.Uint32(v[p:]))
		p += 4
		if l < 0 || int(l) > len(v)-p {
			return nil, false
		}
		b := v[p : p+int(l)]
		p += int(l)
		return b, true
	}
	if flags&(rangeLBInf|rangeLBNull) == 0 {
		if lower, ok = read(); !ok {
			return nil, nil, false
		}
	}
	if flags&(rangeUBInf|rangeUBNull) == 0 {
		if upper, ok = read(); !ok {
			return nil, nil, false
		}
	}
	return lower, upper, p == len(v)
}

// rangeValue masks the bounds of a binary range whose element type is elem (0: unknown, each bound is
// read like an unknown-layout value). A PAN as either bound of int8range or numrange left this way
// unmasked before (docs/masking.md).
func (m *Masker) rangeValue(v []byte, elem uint32, tagged bool, depth int, fps *[]string) (int, bool) {
	lower, upper, ok := rangeBounds(v)
	if !ok || (elem == 0 && lower == nil && upper == nil) {
		return 0, false
	}
	n := 0
	for _, b := range [2][]byte{lower, upper} {
		switch {
		case b == nil:
		case elem != 0:
			n += m.binaryValue(elem, b, tagged, depth+1, fps)
		case tagged:
			n += m.maskValue(b, m.fill, fps)
		default:
			n += m.guessValue(b)
		}
	}
	return n, true
}

// multirangeValue masks a binary multirange: int32 range count, then int32 length and range per range.
func (m *Masker) multirangeValue(v []byte, elem uint32, tagged bool, depth int, fps *[]string) (int, bool) {
	if len(v) < 4 {
		return 0, false
	}
	cnt := int32(binary.BigEndian.Uint32(v))
	if cnt < 0 || int64(cnt)*5 > int64(len(v)-4) || (elem == 0 && cnt == 0) {
		return 0, false
	}
	p := 4
	for k := int32(0); k < cnt; k++ { // the framing first: never write into misread bytes
		if p+4 > len(v) {
			return 0, false
		}
		l := int32(binary.BigEndian.Uint32(v[p:]))
		p += 4
		if l < 1 || int(l) > len(v)-p {
			return 0, false
		}
		if _, _, ok := rangeBounds(v[p : p+int(l)]); !ok {
			return 0, false
		}
		p += int(l)
	}
	if p != len(v) {
		return 0, false
	}
	n := 0
	p = 4
	for k := int32(0); k < cnt; k++ {
		l := int(int32(binary.BigEndian.Uint32(v[p:])))
		p += 4
		c, _ := m.rangeValue(v[p:p+l], elem, tagged, depth+1, fps)
		n += c
		p += l
	}
	return n, true
}

// moneyValue masks a binary money value (int64 in the currency's smallest unit). Both readings are
// checked: the integer as a PAN ("PAN as cents", 4111111111111111::bigint::money / 100) and its whole
// units as a PAN (4111111111111111::money, stored as PAN × 100); the cents stay.
func (m *Masker) moneyValue(v []byte, tagged bool, fps *[]string) int {
	if n := m.int8Value(v, tagged, fps); n > 0 || tagged {
		return n
	}
	x := int64(binary.BigEndian.Uint64(v))
	u := uint64(x)
	if x < 0 {
		u = uint64(-x)
	}
	units, cents := u/100, u%100
	if units < 1e11 {
		return 0
	}
	var a [20]byte
	d := decimalDigits(&a, units)
	n := m.scan(d, numFillByte, fps)
	if n == 0 {
		return 0
	}
	y := int64(parseDigits(d)*100 + cents)
	if x < 0 {
		y = -y
	}
	binary.BigEndian.PutUint64(v, uint64(y))
	return n
}

// moneyText masks money in text format ("$4,111,111,111,111,111.00", "-1.234,56 €"): the group
// separators are no separators to the detector, so its digits are read as one number, once with the
// fraction (cents) and once without it, and the masked digits are written back where they were.
func (m *Masker) moneyText(v []byte, tagged bool) int {
	var d [40]byte
	var pos [40]uint16
	n, frac := 0, 0 // frac: digits after the last '.' or ','
	for i, c := range v {
		switch {
		case isDigit(c):
			if n == len(d) {
				return m.textValue(v, numFillByte, tagged, nil)
			}
			d[n], pos[n] = c, uint16(i)
			n++
			frac++
		case c == '.' || c == ',':
			frac = 0
		}
	}
	if frac == n || frac > 4 { // no fraction
		frac = 0
	}
	var c int
	switch {
	case tagged:
		c = m.maskValue(d[:n], numFillByte, nil)
	default:
		if c = m.scan(d[:n], numFillByte, nil); c == 0 && frac > 0 {
			c = m.scan(d[:n-frac], numFillByte, nil)
		}
	}
	for k := 0; k < n && c > 0; k++ {
		v[pos[k]] = d[k]
	}
	return c
}

// oidMoneyArray is money[].
const oidMoneyArray = 791

// moneyArrayText masks money[] in text format ({"$4,111,111,111,111,111.00",$1.00}): each element, quoted
// or not, is masked as money text.
func (m *Masker) moneyArrayText(v []byte, tagged bool) int {
	n := 0
	for i := 0; i < len(v); {
		switch v[i] {
		case '{', '}', ',':
			i++
			continue
		case '"':
			j := i + 1
			for j < len(v) && v[j] != '"' {
				j++
			}
			n += m.moneyText(v[i+1:j], tagged)
			i = j + 1
			continue
		}
		j := i
		for j < len(v) && v[j] != ',' && v[j] != '}' {
			j++
		}
		n += m.moneyText(v[i:j], tagged)
		i = j
	}
	return n
}

// hasHigh reports whether b holds a byte ≥ 0x80 (non-ASCII UTF-8), eight bytes at a time.
func hasHigh(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&hi8 != 0 {
			return true
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= 0x80 {
			return true
		}
	}
	return false
}

// digitValue returns the value of a decimal digit of any script (Unicode category Nd). Every Nd range
// of the unicode tables is one or more whole blocks of ten digits from zero to nine (a test checks it).
func digitValue(r rune) (byte, bool) {
	if r < utf8.RuneSelf {
		if r >= '0' && r <= '9' {
			return byte(r - '0'), true
		}
		return 0, false
	}
	for _, g := range unicode.Nd.R16 {
		if r < rune(g.Lo) {
			return 0, false
		}
		if r <= rune(g.Hi) {
			return byte((r - rune(g.Lo)) % 10), true
		}
	}
	for _, g := range unicode.Nd.R32 {
		if r < rune(g.Lo) {
			return 0, false
		}
		if r <= rune(g.Hi) {
			return byte((r - rune(g.Lo)) % 10), true
		}
	}
	return 0, false
}

// invisible reports whether r is a format character that renders as nothing (zero-width space, joiner,
// word joiner, BOM, soft hyphen…): between two digits it hides nothing from a reader.
func invisible(r rune) bool { return unicode.Is(unicode.Cf, r) }

// textScan is scan for text values, errors, notices and COPY text: after the ASCII scan, text holding
// non-ASCII characters is scanned once more as its "reading": every Unicode digit as its ASCII digit,
// every Unicode space (NBSP, thin space…) as a space and every invisible format character dropped, so
// that "４１１１ １１１１…" or "4111\u200b1111…" are masked like "4111 1111…". A hidden non-ASCII digit
// becomes fill in each of its bytes (the length never changes). fill 0 is a dry run.
func (m *Masker) textScan(b []byte, fill byte, fps *[]string) int {
	n := m.scan(b, fill, fps)
	if fill == numFillByte || !hasHigh(b) {
		return n
	}
	return n + m.unicodeScan(b, fill, fps)
}

// unicodeScan is textScan's second pass; see there.
func (m *Masker) unicodeScan(b []byte, fill byte, fps *[]string) int {
	digits, special := 0, false
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			if isDigit(b[i]) {
				digits++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if _, ok := digitValue(r); ok {
			digits++
			special = true
		} else if unicode.IsSpace(r) || invisible(r) {
			special = true
		}
		i += size
	}
	if !special || digits < minPANDigits {
		return 0
	}
	var pstack [256]byte
	var ostack [256]int32
	proj, off := pstack[:0], ostack[:0]
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			proj, off = append(proj, c), append(off, int32(i))
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		switch v, ok := digitValue(r); {
		case ok:
			proj, off = append(proj, '0'+v), append(off, int32(i))
		case unicode.IsSpace(r):
			proj, off = append(proj, ' '), append(off, int32(i))
		case invisible(r):
		default:
			proj, off = append(proj, '_'), append(off, int32(i))
		}
		i += size
	}
	f := fill
	if f == 0 {
		f = '*'
	}
	var before []byte
	if fill != 0 {
		before = append([]byte(nil), proj...)
	}
	n := m.scan(proj, f, fps)
	if n == 0 || fill == 0 {
		return n
	}
	for k, c := range proj {
		if c != before[k] {
			i := int(off[k])
			_, size := utf8.DecodeRune(b[i:])
			for x := i; x < i+size; x++ {
				b[x] = fill
			}
		}
	}
	return n
}
