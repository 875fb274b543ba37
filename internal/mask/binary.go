package mask

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
)

// PostgreSQL type OIDs the stream treats specially (pg_type.dat).
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidXML         = 142
	oidFloat4      = 700
	oidFloat8      = 701
	oidUnknown     = 705
	oidMoney       = 790
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidInterval    = 1186
	oidTimeTZ      = 1266
	oidNumeric     = 1700
	oidRecord      = 2249
	oidUUID        = 2950
	oidJSONB       = 3802
	oidJSONPath    = 4072
)

// numericOID reports whether values of the type (or its array type) are numbers, whose hidden digits
// become '0' so that clients still parse them.
func numericOID(oid uint32) bool {
	switch oid {
	case oidInt8, oidInt2, oidInt4, oidOID, oidFloat4, oidFloat8, oidNumeric, oidMoney,
		1016, 1005, 1007, 1028, 1021, 1022, 1231, 791,
		3926, 3906, 4536, 4532, 3927, 3907, 6157, 6151: // int8/num ranges, multiranges and their arrays
		return true
	}
	return false
}

// textOID reports whether the binary format of the type is its text bytes.
func textOID(oid uint32) bool {
	switch oid {
	case oidText, oidVarchar, oidBPChar, oidName, oidChar, oidJSON, oidXML, oidUnknown, oidBytea:
		return true
	}
	return false
}

// fixedOID reports whether the type is a fixed-size binary type that cannot carry a PAN (too few digits
// or not a number a PAN is stored as).
func fixedOID(oid uint32) bool {
	switch oid {
	case oidBool, oidInt2, oidInt4, oidOID, oidFloat4, oidDate, oidTime, oidTimeTZ, oidTimestamp,
		oidTimestampTZ, oidInterval, oidUUID:
		return true
	}
	return false
}

// maxNested bounds array/record nesting in binary values (hostile bytes must not recurse without end).
const maxNested = 8

// binaryValue masks one binary-format value of type oid in place. tagged forces whole-value masking.
func (m *Masker) binaryValue(oid uint32, v []byte, tagged bool, depth int, fps *[]string) int {
	switch {
	// json before the text types: its binary form is its text, but a PAN written as a JSON number must be
	// zero-filled, not starred, or the document stops parsing (regression: json_agg(pan::bigint) in binary).
	case oid == oidJSON:
		return m.jsonValue(v, tagged, fps)
	case textOID(oid):
		return m.textValue(v, m.fill, tagged, fps)
	case oid == oidJSONB || oid == oidJSONPath: // one version byte, then text
		if len(v) > 0 && v[0] == 1 {
			return m.jsonValue(v[1:], tagged, fps)
		}
		return m.jsonValue(v, tagged, fps)
	case oid == oidInt8:
		if len(v) != 8 {
			return m.scan(v, m.fill, fps)
		}
		return m.int8Value(v, tagged, fps)
	case oid == oidFloat8:
		if len(v) != 8 {
			return m.scan(v, m.fill, fps)
		}
		return m.float8Value(v, tagged, fps)
	case oid == oidNumeric:
		if n, ok := m.numericValue(v, tagged, fps); ok {
			return n
		}
		return m.scan(v, m.fill, fps)
	case oid == oidMoney: // int64 cents
		if len(v) != 8 {
			return m.scan(v, m.fill, fps)
		}
		return m.moneyValue(v, tagged, fps)
	case rangeElem(oid) != 0:
		if depth < maxNested {
			if n, ok := m.rangeValue(v, rangeElem(oid), tagged, depth, fps); ok {
				return n
			}
		}
	case multirangeElem(oid) != 0:
		if depth < maxNested {
			if n, ok := m.multirangeValue(v, multirangeElem(oid), tagged, depth, fps); ok {
				return n
			}
		}
	case fixedOID(oid):
		if tagged {
			clear(v)
			return 1
		}
		return 0
	}
	// arrays and records have a walkable structure whatever their OID; anything else is scanned as bytes
	if depth < maxNested {
		if n, ok := m.arrayValue(v, tagged, depth, fps); ok {
			return n
		}
		if n, ok := m.recordValue(v, tagged, depth, fps); ok {
			return n
		}
		// a range or multirange of a type the masker does not know (a user-defined range over int8 or
		// numeric): bounds are read like unknown-layout values
		if n, ok := m.rangeValue(v, 0, tagged, depth, fps); ok {
			return n
		}
		if n, ok := m.multirangeValue(v, 0, tagged, depth, fps); ok {
			return n
		}
	}
	if tagged {
		return m.maskValue(v, m.fill, fps)
	}
	return m.scan(v, m.fill, fps)
}

// guessValue masks a value whose type or format the stream does not know (or that claims text format but
// holds a NUL byte, which PostgreSQL's text output never does: the gateway's idea of the formats is then
// wrong). It is content-scanned, then read as whichever binary form fits: float8 or int8 for 8 bytes
// (an integral float8 in PAN range cannot be a plausible int8 bit pattern, and the reverse), numeric,
// array or record when the framing adds up exactly.
func (m *Masker) guessValue(v []byte) int {
	if n := m.scan(v, m.fill, nil); n > 0 {
		return n
	}
	return m.guessBinary(v)
}

// guessBinary is guessValue without the content scan: the binary readings only. Binary COPY fields use
// it directly when a field was cut across CopyData messages (its pieces were content-scanned as they
// came).
func (m *Masker) guessBinary(v []byte) int {
	switch {
	case len(v) == 8:
		bits := binary.BigEndian.Uint64(v)
		a := math.Abs(math.Float64frombits(bits))
		if a >= 1e11 && a < 1e19 && a == math.Trunc(a) {
			if n := m.float8Value(v, false, nil); n > 0 {
				return n
			}
			// not a PAN as a float: its bits may still be an int8 PAN (19-digit Visa 4.76e18–4.89e18)
		}
		if a >= 0x1p-100 && a < 0x1p100 && shortFloat(math.Float64frombits(bits)) {
			// a float8 of about 1e-30 to 1e30 read as int8 is a 19-digit number of magnitude 4.16e18–5.07e18,
			// a Visa/Maestro candidate that passes Luhn one time in ten. A float written in decimal (an
			// amount, a rate) has a short shortest-decimal form; the float reading of a 19-digit int8 PAN
			// almost never has (docs/masking.md), so short floats are taken for floats.
			return 0
		}
		if !guessInt8(int64(bits)) {
			return 0
		}
		return m.int8Value(v, false, nil)
	case len(v) >= 8:
		if _, _, ok := numericLayout(v); ok {
			n, _ := m.numericValue(v, false, nil)
			return n
		}
	}
	if n, ok := m.arrayValue(v, false, 0, nil); ok {
		return n
	}
	if n, ok := m.recordValue(v, false, 0, nil); ok {
		return n
	}
	if n, ok := m.rangeValue(v, 0, false, 0, nil); ok {
		return n
	}
	if n, ok := m.multirangeValue(v, 0, false, 0, nil); ok {
		return n
	}
	return 0
}

// shortFloat reports whether f's shortest round-trip decimal form has at most 13 significant digits
// (amounts, rates, epoch milliseconds; a float computed by arithmetic has 15–17).
func shortFloat(f float64) bool {
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	n := 0
	for _, c := range b {
		if c == 'e' {
			break
		}
		if isDigit(c) {
			n++
		}
	}
	return n <= 13
}

// guessInt8 reports whether an 8-byte value of unknown type may be read as an int8 PAN. PostgreSQL
// timestamps are int8 microseconds since 2000: from 2000-04 to 2031-09 they have 14 or 15 digits, and
// read as integers about one in ten from 2017–2022 (56…–69…) passes Maestro's IIN and Luhn. Untyped 14-
// and 15-digit integers are therefore only taken for the brands actually issued at those lengths,
// Diners (14: 300–305, 3095, 36, 38, 39) and Amex (15: 34, 37); Maestro at 14–15 and Diners at 15 digits
// are not guessed (docs/masking.md gives the measured rates).
func guessInt8(x int64) bool {
	u := uint64(x)
	if x < 0 {
		u = uint64(-x)
	}
	switch {
	case u >= 1e13 && u < 1e14: // 14 digits
		p2, p3, p4 := u/1e12, u/1e11, u/1e10
		return (p3 >= 300 && p3 <= 305) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39
	case u >= 1e14 && u < 1e15: // 15 digits
		p2 := u / 1e13
		return p2 == 34 || p2 == 37
	}
	return true
}

// jsonValue masks JSON text. A PAN written as a JSON number gets digits for its hidden digits (numFill),
// so the document still parses; inside strings the text fill applies. The fill can only appear outside
// strings where the masker put it (a bare '*' is not valid JSON), so the fix-up walks the text once,
// only when something was masked: each number holding the fill is restored from a copy and masked again
// as a number, which keeps numFill's guarantee that the masked number is no PAN and not the original.
func (m *Masker) jsonValue(v []byte, tagged bool, fps *[]string) int {
	if !tagged && m.textScan(v, 0, nil) == 0 { // the dry run: clean documents are neither copied nor written
		return 0
	}
	var stack [256]byte
	orig := stack[:0]
	if len(v) > len(stack) {
		orig = make([]byte, 0, len(v))
	}
	orig = append(orig, v...)
	n := m.textValue(v, m.fill, tagged, fps)
	if n == 0 {
		return n
	}
	in := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case in && c == '\\':
			i++
			continue
		case c == '"':
			in = !in
			continue
		case in || (c != m.fill && !isDigit(c)):
			continue
		}
		j, filled := i, false
		for j < len(v) && (v[j] == m.fill || isDigit(v[j])) {
			filled = filled || v[j] == m.fill
			j++
		}
		if filled {
			var keep [32]byte
			tok := v[i:j]
			masked := keep[:0]
			if len(tok) <= len(keep) {
				masked = append(masked, tok...)
			}
			copy(tok, orig[i:j])
			if len(masked) == 0 || m.scan(tok, numFillByte, nil) == 0 || bytes.IndexByte(tok, m.fill) >= 0 {
				// the text scan saw another run here (malformed JSON, a whole tagged value, a long token):
				// keep its masking, with zeros for the fill
				if len(masked) > 0 {
					copy(tok, masked)
				} else {
					m.scan(tok, m.fill, nil) // a long token: mask it again as text
				}
				for k := range tok {
					if tok[k] == m.fill {
						tok[k] = '0'
					}
				}
				m.breakZeroed(tok, orig[i:j])
			}
			// JSON allows no leading zero: with no visible leading digits (last4, full) the first digit is
			// hidden, and the first of 1–9 that keeps the number no PAN and not the original takes it
			if len(tok) > 1 && tok[0] == '0' && (i == 0 || v[i-1] != '.') {
				for c := byte('1'); c <= '9'; c++ {
					tok[0] = c
					if !bytes.Equal(tok, orig[i:j]) && m.scan(tok, 0, nil) == 0 && !luhnASCII(tok) {
						break
					}
				}
			}
		}
		i = j - 1
	}
	return n
}

// luhnASCII reports whether the ASCII digits d pass the Luhn check (false if d holds another byte).
func luhnASCII(d []byte) bool {
	var stack [maxRunDigits]byte
	v := stack[:0]
	for _, c := range d {
		if !isDigit(c) {
			return false
		}
		v = append(v, c-'0')
	}
	return luhn(v)
}

// breakZeroed makes sure a number whose hidden digits were set to zeros is no PAN and differs from the
// original orig (same length): if it still equals orig or holds a PAN, its zeros that were not zeros in
// the masked text get the first value that fixes it. Only the rare fall-back paths of jsonValue need it.
func (m *Masker) breakZeroed(tok, orig []byte) {
	if !bytes.Equal(tok, orig) && m.scan(tok, 0, nil) == 0 {
		return
	}
	for k := len(tok) - 1; k >= 0; k-- {
		if tok[k] != '0' {
			continue
		}
		for c := byte('1'); c <= '9'; c++ {
			tok[k] = c
			if !bytes.Equal(tok, orig) && m.scan(tok, 0, nil) == 0 {
				return
			}
		}
		tok[k] = '0'
	}
}

// textValue masks a text value: content scan, or the whole value when tagged.
func (m *Masker) textValue(v []byte, fill byte, tagged bool, fps *[]string) int {
	if tagged {
		return m.maskValue(v, fill, fps)
	}
	return m.textScan(v, fill, fps)
}

// floatText masks a float4/float8 in text format written with an exponent, as PostgreSQL prints large
// values ("4.111111111111111e+15"): the mantissa's digits are laid out as the integer they denote,
// masked with '0', and written back at their positions. Other forms are content-scanned.
func (m *Masker) floatText(v []byte, tagged bool) int {
	e := -1
	for i, c := range v {
		if c == 'e' || c == 'E' {
			e = i
			break
		}
	}
	if e < 0 {
		return m.textValue(v, '0', tagged, nil)
	}
	exp := 0
	k := e + 1
	if k < len(v) && (v[k] == '+' || v[k] == '-') {
		if v[k] == '-' {
			return m.textValue(v, '0', tagged, nil)
		}
		k++
	}
	if k == len(v) || len(v)-k > 2 {
		return m.textValue(v, '0', tagged, nil)
	}
	for ; k < len(v); k++ {
		if !isDigit(v[k]) {
			return m.textValue(v, '0', tagged, nil)
		}
		exp = exp*10 + int(v[k]-'0')
	}
	var pos [20]byte
	var num [20]byte
	n := 0
	for i := 0; i < e; i++ {
		if isDigit(v[i]) {
			if n == len(pos) {
				return m.textValue(v, '0', tagged, nil)
			}
			pos[n], num[n] = byte(i), v[i]
			n++
		} else if v[i] != '.' && !(i == 0 && v[i] == '-') {
			return m.textValue(v, '0', tagged, nil)
		}
	}
	if n == 0 || exp+1 < n || exp+1 > len(num) {
		return m.textValue(v, '0', tagged, nil)
	}
	md := n
	for ; n < exp+1; n++ {
		num[n] = '0' // the integer's trailing digits the mantissa left out
	}
	orig := num
	var c int
	if tagged {
		c = m.maskValue(num[:n], '0', nil)
	} else {
		c = m.scan(num[:n], '0', nil)
	}
	if c == 0 {
		return 0
	}
	// The text shows only the mantissa's md digits; the rest are zeros. If numFill's digit fell there,
	// move it into the mantissa's hidden digits; with none hidden there, shrink the exponent to 10 so that
	// the number has 11 digits and is no PAN (a PAN ending in many zeros, "5.5e+15"; docs/masking.md).
	if bytes.IndexFunc(num[md:n], func(r rune) bool { return r != '0' }) >= 0 {
		head, tail := m.keep(n)
		if n > maxPANDigits || md-1 < head {
			copy(num[:md], orig[:md])
			v[len(v)-2], v[len(v)-1] = '1', '0' // exp ≥ 11 here: the value ends in two exponent digits
		} else {
			var d [20]byte
			for i := range n {
				d[i] = orig[i] - '0'
			}
			for i := head; i < md; i++ {
				num[i] = '0'
			}
			for i := md; i < n; i++ {
				num[i] = '0'
			}
			num[md-1] = '0' + numFillAt(d[:n], head, n-tail, md-1)
		}
	}
	for i := 0; i < md; i++ {
		v[pos[i]] = num[i]
	}
	return c
}

// decimalDigits writes the decimal digits of u into a and returns them.
func decimalDigits(a *[20]byte, u uint64) []byte {
	i := len(a)
	for {
		i--
		a[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			return a[i:]
		}
	}
}

func parseDigits(d []byte) uint64 {
	var u uint64
	for _, c := range d {
		u = u*10 + uint64(c-'0')
	}
	return u
}

// int8Value masks an int8 whose decimal form is a PAN: hidden digits become zero, in place.
func (m *Masker) int8Value(v []byte, tagged bool, fps *[]string) int {
	x := int64(binary.BigEndian.Uint64(v))
	u := uint64(x)
	if x < 0 {
		u = uint64(-x) // math.MinInt64 stays itself: 19 digits starting with 9, not a PAN
	}
	if u < 1e11 && !tagged {
		return 0
	}
	var a [20]byte
	d := decimalDigits(&a, u)
	var n int
	if tagged {
		n = m.maskValue(d, '0', fps)
	} else {
		n = m.scan(d, '0', fps)
	}
	if n == 0 {
		return 0
	}
	y := int64(parseDigits(d))
	if x < 0 {
		y = -y
	}
	binary.BigEndian.PutUint64(v, uint64(y))
	return n
}

// float8Value masks a float8 holding an integer whose decimal form is a PAN.
func (m *Masker) float8Value(v []byte, tagged bool, fps *[]string) int {
	f := math.Float64frombits(binary.BigEndian.Uint64(v))
	a := math.Abs(f)
	if math.IsNaN(f) || math.IsInf(f, 0) || a >= 1e19 || a != math.Trunc(a) || (a < 1e11 && !tagged) {
		if tagged && !math.IsNaN(f) && !math.IsInf(f, 0) && (a >= 1e19 || a != math.Trunc(a)) {
			binary.BigEndian.PutUint64(v, 0)
			return 1
		}
		return 0
	}
	var buf [20]byte
	d := decimalDigits(&buf, uint64(a))
	var n int
	if tagged {
		n = m.maskValue(d, '0', fps)
	} else {
		n = m.scan(d, '0', fps)
	}
	if n == 0 {
		return 0
	}
	// Above 2^53 the float rounds the masked integer: its last digits may change and form a PAN again
	// (or, in theory, the original). Step the hidden digits until the rounded value is neither.
	var ob [20]byte
	od := decimalDigits(&ob, uint64(a))
	_, tail := m.keep(len(d))
	step := uint64(1)
	for range tail {
		step *= 10
	}
	u := parseDigits(d)
	g := float64(u)
	for k := uint64(1); ; k++ {
		var gb [20]byte
		gd := decimalDigits(&gb, uint64(g))
		if !bytes.Equal(gd, od) && m.scan(gd, 0, nil) == 0 {
			break
		}
		if k > 20 || tagged {
			g = 0
			break
		}
		g = float64(u + k*max(step, 1<<12))
	}
	if f < 0 {
		g = -g
	}
	binary.BigEndian.PutUint64(v, math.Float64bits(g))
	return n
}

// numericLayout checks a binary numeric (ndigits, weight, sign, dscale, base-10000 digits) and returns
// ndigits and weight. ok is false for malformed values and for NaN / infinities.
func numericLayout(v []byte) (ndigits, weight int, ok bool) {
	if len(v) < 8 {
		return 0, 0, false
	}
	ndigits = int(int16(binary.BigEndian.Uint16(v)))
	weight = int(int16(binary.BigEndian.Uint16(v[2:])))
	sign := binary.BigEndian.Uint16(v[4:])
	if ndigits < 0 || len(v) != 8+2*ndigits || (sign != 0 && sign != 0x4000) {
		return 0, 0, false
	}
	for g := 0; g < ndigits; g++ {
		if binary.BigEndian.Uint16(v[8+2*g:]) > 9999 {
			return 0, 0, false
		}
	}
	return ndigits, weight, true
}

// numericText lays out the decimal digits of a binary numeric: integer groups (implicit zero groups
// included) as 4 characters each, then '.', leading zero fraction groups, the stored fraction groups.
// off(g) gives the text offset of stored group g. ok is false when v is not a finite numeric.
func numericText(v []byte, buf []byte) (txt []byte, intGroups, fracZero int, ok bool) {
	ndigits, weight, ok := numericLayout(v)
	if !ok {
		return nil, 0, 0, false
	}
	intGroups = max(weight+1, 0)
	fracZero = max(-weight-1, 0)
	fracGroups := max(ndigits-intGroups, 0)
	size := 4 * intGroups
	if fracGroups > 0 {
		size += 1 + 4*(fracZero+fracGroups)
	}
	if size > 1<<16 { // bounded by the wire format anyway; keep the scratch sane
		return nil, 0, 0, false
	}
	if size > len(buf) {
		buf = make([]byte, size)
	}
	txt = buf[:size]
	for g := 0; g < intGroups; g++ {
		var d uint16
		if g < ndigits {
			d = binary.BigEndian.Uint16(v[8+2*g:])
		}
		put4(txt[4*g:], d)
	}
	if fracGroups > 0 {
		p := 4 * intGroups
		txt[p] = '.'
		p++
		for k := 0; k < fracZero; k++ {
			put4(txt[p:], 0)
			p += 4
		}
		for g := intGroups; g < ndigits; g++ {
			put4(txt[p:], binary.BigEndian.Uint16(v[8+2*g:]))
			p += 4
		}
	}
	return txt, intGroups, fracZero, true
}

func put4(b []byte, d uint16) {
	b[0] = byte('0' + d/1000)
	b[1] = byte('0' + d/100%10)
	b[2] = byte('0' + d/10%10)
	b[3] = byte('0' + d%10)
}

// numericValue masks a binary numeric in place: decode to decimal text, mask with '0', re-encode the
// base-10000 groups at the same positions (the length never changes).
func (m *Masker) numericValue(v []byte, tagged bool, fps *[]string) (int, bool) {
	var scratch [160]byte
	txt, intGroups, fracZero, ok := numericText(v, scratch[:])
	if !ok {
		return 0, false
	}
	// leading zeros of the integer part are not digits of the number: "0378…" must read as "378…"
	lead := 0
	for lead < 4*intGroups && txt[lead] == '0' {
		lead++
	}
	var n int
	if tagged {
		n = m.maskValue(txt[lead:], '0', fps)
	} else {
		n = m.scan(txt[lead:], '0', fps)
	}
	if n == 0 {
		return 0, true
	}
	ndigits := int(int16(binary.BigEndian.Uint16(v)))
	for g := 0; g < ndigits; g++ {
		off := 4 * g
		if g >= intGroups {
			off = 4*intGroups + 1 + 4*(fracZero+g-intGroups)
		}
		q := txt[off : off+4]
		d := uint16(q[0]-'0')*1000 + uint16(q[1]-'0')*100 + uint16(q[2]-'0')*10 + uint16(q[3]-'0')
		binary.BigEndian.PutUint16(v[8+2*g:], d)
	}
	return n, true
}

// numericString renders a binary numeric for the sample.
func numericString(v []byte) string {
	var scratch [160]byte
	txt, intGroups, _, ok := numericText(v, scratch[:])
	if !ok {
		if len(v) >= 6 && binary.BigEndian.Uint16(v[4:]) == 0xC000 {
			return "NaN"
		}
		return "<numeric>"
	}
	ip := txt[:4*intGroups]
	for len(ip) > 1 && ip[0] == '0' {
		ip = ip[1:]
	}
	s := string(ip)
	if s == "" {
		s = "0"
	}
	if len(txt) > 4*intGroups {
		dscale := int(int16(binary.BigEndian.Uint16(v[6:])))
		frac := txt[4*intGroups+1:]
		if dscale >= 0 && dscale < len(frac) {
			frac = frac[:dscale]
		}
		if len(frac) > 0 {
			s += "." + string(frac)
		}
	}
	if binary.BigEndian.Uint16(v[4:]) == 0x4000 {
		s = "-" + s
	}
	return s
}

// arrayValue walks a binary array (ndim, flags, element OID, dimensions, elements) and masks each
// element by its type. ok is false when v is not exactly one well-formed array.
func (m *Masker) arrayValue(v []byte, tagged bool, depth int, fps *[]string) (int, bool) {
	if len(v) < 12 {
		return 0, false
	}
	ndim := int32(binary.BigEndian.Uint32(v))
	flags := binary.BigEndian.Uint32(v[4:])
	elem := binary.BigEndian.Uint32(v[8:])
	if ndim < 0 || ndim > 6 || flags > 1 || len(v) < 12+8*int(ndim) {
		return 0, false
	}
	items := int64(1)
	if ndim == 0 {
		items = 0
	}
	for k := 0; k < int(ndim); k++ {
		dim := int32(binary.BigEndian.Uint32(v[12+8*k:]))
		if dim < 0 {
			return 0, false
		}
		items *= int64(dim)
		if items > int64(len(v)) { // every element needs at least 4 bytes
			return 0, false
		}
	}
	// validate the framing first, so that a mis-parse never writes into the wrong bytes
	p := 12 + 8*int(ndim)
	q := p
	for k := int64(0); k < items; k++ {
		if q+4 > len(v) {
			return 0, false
		}
		l := int32(binary.BigEndian.Uint32(v[q:]))
		q += 4
		if l == -1 {
			continue
		}
		if l < 0 || int(l) > len(v)-q {
			return 0, false
		}
		q += int(l)
	}
	if q != len(v) {
		return 0, false
	}
	n := 0
	for k := int64(0); k < items; k++ {
		l := int32(binary.BigEndian.Uint32(v[p:]))
		p += 4
		if l == -1 {
			continue
		}
		n += m.binaryValue(elem, v[p:p+int(l)], tagged, depth+1, fps)
		p += int(l)
	}
	return n, true
}

// recordValue walks a binary record (field count, then OID, length, bytes per field).
func (m *Masker) recordValue(v []byte, tagged bool, depth int, fps *[]string) (int, bool) {
	if len(v) < 4 {
		return 0, false
	}
	nf := int32(binary.BigEndian.Uint32(v))
	if nf < 0 || int64(nf)*8 > int64(len(v)-4) {
		return 0, false
	}
	q := 4
	for k := 0; k < int(nf); k++ {
		if q+8 > len(v) {
			return 0, false
		}
		l := int32(binary.BigEndian.Uint32(v[q+4:]))
		q += 8
		if l == -1 {
			continue
		}
		if l < 0 || int(l) > len(v)-q {
			return 0, false
		}
		q += int(l)
	}
	if q != len(v) {
		return 0, false
	}
	n := 0
	p := 4
	for k := 0; k < int(nf); k++ {
		oid := binary.BigEndian.Uint32(v[p:])
		l := int32(binary.BigEndian.Uint32(v[p+4:]))
		p += 8
		if l == -1 {
			continue
		}
		n += m.binaryValue(oid, v[p:p+int(l)], tagged, depth+1, fps)
		p += int(l)
	}
	return n, true
}

// binaryString renders a binary value of a known type for the sample; unknown types are not rendered
// (their bytes might encode card data the masker cannot see).
func binaryString(oid uint32, v []byte) string {
	switch {
	case textOID(oid):
		return string(v)
	case oid == oidJSONB && len(v) > 0:
		return string(v[1:])
	case oid == oidInt8 && len(v) == 8:
		return strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10)
	case oid == oidInt4 && len(v) == 4:
		return strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(v))), 10)
	case oid == oidInt2 && len(v) == 2:
		return strconv.FormatInt(int64(int16(binary.BigEndian.Uint16(v))), 10)
	case oid == oidFloat8 && len(v) == 8:
		return strconv.FormatFloat(math.Float64frombits(binary.BigEndian.Uint64(v)), 'g', -1, 64)
	case oid == oidBool && len(v) == 1:
		if v[0] != 0 {
			return "t"
		}
		return "f"
	case oid == oidNumeric:
		return numericString(v)
	}
	return "<binary " + strconv.Itoa(len(v)) + " bytes>"
}
