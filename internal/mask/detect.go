package mask

import (
	"encoding/binary"
	"math/bits"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Detection is done on "runs": maximal sequences of ASCII digits in which single spaces or dashes may sit
// between two digits ("4111 1111 1111 1111", "3782-822463-10005"). A run is cheap to reject: fewer than
// minPANDigits digits cannot hold a PAN. Inside a run, PANs must start and end at a run edge, at a
// separator, or where another PAN starts or ends. This finds grouped PANs, PANs listed with spaces
// between them and several PANs concatenated without any separator, while a PAN-looking window in the
// middle of a longer digit string (an ICCID, a hash, a long id) is left alone. See docs/masking.md.

const (
	minPANDigits = 12
	maxPANDigits = 19
	// maxRunDigits bounds the digits of one run handled with stack arrays; longer runs use the heap.
	maxRunDigits = 64
	// maxTrack1 and maxTrack2 bound the track lengths of ISO/IEC 7813 (79 and 40 characters).
	maxTrack1 = 79
	maxTrack2 = 40
)

func isDigit(c byte) bool { return c-'0' < 10 }

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// digitBits sets the high bit of every byte of x that is an ASCII digit, exactly (no false positives),
// using the "has between" bit trick on the low seven bits and excluding bytes ≥ 0x80.
func digitBits(x uint64) uint64 {
	t := x & (lo8 * 0x7f)
	return (lo8*(127+'9'+1) - t) & ^x & (t + lo8*(127-('0'-1))) & hi8
}

// nextDigit returns the index of the first digit in b at or after i, or len(b). It tests eight bytes at
// a time, which is what keeps PAN-free text above 1 GB/s.
func nextDigit(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := digitBits(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if isDigit(b[i]) {
			return i
		}
	}
	return len(b)
}

// zeroBits sets the high bit of every zero byte of x, exactly.
func zeroBits(x uint64) uint64 {
	return ^(((x & (lo8 * 0x7f)) + lo8*0x7f) | x | lo8*0x7f)
}

// packHigh gathers the high bit of each byte of x into the low 8 bits (byte k → bit k).
func packHigh(x uint64) uint64 {
	return ((x >> 7) * 0x0102040810204080) >> 56
}

// skipBlocks skips 64-byte blocks that cannot contain the start of a candidate run. A candidate needs
// 12 digits joined by single separators, so at least 12 consecutive "run bytes" (digits, and spaces or
// dashes between digits). For each block it builds the bitmap of run bytes and tests for 12 consecutive
// ones with shifts; a run touching the block's end is handed on to the next block. i must not be inside a
// run. It returns where the scalar scan must continue (i itself when the block holds a candidate).
func skipBlocks(b []byte, i int) int {
	for i+64 <= len(b) {
		blk := b[i : i+64]
		var any uint64
		for w := 0; w < 64; w += 8 {
			any |= digitBits(binary.LittleEndian.Uint64(blk[w:]))
		}
		if any == 0 { // prose: no digit at all
			i += 64
			continue
		}
		var d uint64
		for w := 0; w < 8; w++ {
			d |= packHigh(digitBits(binary.LittleEndian.Uint64(blk[8*w:]))) << (8 * w)
		}
		// first pretend any single byte between two digits is a separator: a superset of the run bytes,
		// enough to clear most blocks without looking for the real separators
		e := d | ((d<<1 | 1) & (d>>1 | 1<<63))
		if has12(e) {
			var s uint64
			for w := 0; w < 8; w++ {
				x := binary.LittleEndian.Uint64(blk[8*w:])
				s |= packHigh(zeroBits(x^(lo8*' '))|zeroBits(x^(lo8*'-'))) << (8 * w)
			}
			// a separator is a run byte when digits sit on both sides (unknown outside the block: assume so)
			e = d | (s & (d<<1 | 1) & (d>>1 | 1<<63))
			r2 := e & (e >> 1)
			r4 := r2 & (r2 >> 2)
			r8 := r4 & (r4 >> 4)
			if r12 := r8 & (r4 >> 8); r12 != 0 {
				return i + bits.TrailingZeros64(r12)
			}
		}
		// a run reaching the block's end may continue in the next block: start the next block there
		i += 64 - bits.LeadingZeros64(^e)
	}
	return i
}

// has12 reports whether e has 12 consecutive one bits.
func has12(e uint64) bool {
	r2 := e & (e >> 1)
	r4 := r2 & (r2 >> 2)
	r8 := r4 & (r4 >> 4)
	return r8&(r4>>8) != 0
}

// mayHoldPAN is a cheap pre-check for Text: fewer than 12 digits can hold neither a PAN nor track data.
func mayHoldPAN(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
			if n >= minPANDigits {
				return true
			}
		}
	}
	return false
}

// brandOK reports whether digit values d (len(d) == L) start with an IIN of a brand in docs/pci.md that issues
// PANs of length L.
func brandOK(d []byte) bool {
	return brandPrefixOK([4]byte{d[0], d[1], d[2], d[3]}, len(d))
}

// brandPrefixOK is brandOK on the first four digit values and the length: one table lookup by the first
// two digits, with the three prefixes whose ranges need more digits checked apart.
func brandPrefixOK(d [4]byte, L int) bool {
	p := int(d[0])*10 + int(d[1])
	switch p {
	case 22, 23, 24, 25, 26, 27: // Mastercard 2221–2720
		p4 := p*100 + int(d[2])*10 + int(d[3])
		return L == 16 && p4 >= 2221 && p4 <= 2720
	case 30: // Diners 300–305, 3095
		return L >= 14 && (d[2] <= 5 || (d[2] == 9 && d[3] == 5))
	case 35: // JCB 3528–3589
		q := int(d[2])*10 + int(d[3])
		return L >= 16 && q >= 28 && q <= 89
	}
	return brandLengths[p]>>(L-minPANDigits)&1 != 0
}

// brandLengths[first two digits] has bit L-12 set when a brand issues PANs of length L there, for the
// prefixes that decide the brand on two digits alone.
var brandLengths = func() (t [100]uint8) {
	const (
		l13_16_19 = 1<<(13-12) | 1<<(16-12) | 1<<(19-12)
		l12to19   = 0xff
		l14to19   = 0xfc
		l15       = 1 << (15 - 12)
		l16       = 1 << (16 - 12)
	)
	for p := 40; p <= 49; p++ {
		t[p] = l13_16_19 // Visa
	}
	t[34], t[37] = l15, l15                         // Amex
	t[36], t[38], t[39] = l14to19, l14to19, l14to19 // Diners
	for p := 51; p <= 55; p++ {
		t[p] = l16 // Mastercard
	}
	t[50] = l12to19 // Maestro
	for p := 56; p <= 69; p++ {
		t[p] = l12to19 // Maestro 56–69 (covers Discover and UnionPay lengths)
	}
	return t
}()

var luhnDouble = [10]byte{0, 2, 4, 6, 8, 1, 3, 5, 7, 9}

// luhnPair[10*x+y] is the Luhn contribution of the digit pair x y when y is not doubled and x is.
var luhnPair = func() (t [100]byte) {
	for x := 0; x < 10; x++ {
		for y := 0; y < 10; y++ {
			t[10*x+y] = luhnDouble[x] + byte(y)
		}
	}
	return t
}()

// luhn checks the Luhn checksum of digit values d.
func luhn(d []byte) bool {
	sum := 0
	i := len(d) - 1
	for ; i > 0; i -= 2 {
		sum += int(luhnPair[int(d[i-1])*10+int(d[i])])
	}
	if i == 0 {
		sum += int(d[0])
	}
	return sum%10 == 0
}

// isPAN reports whether digit values d are a PAN: length, IIN and Luhn.
func isPAN(d []byte) bool {
	return len(d) >= minPANDigits && len(d) <= maxPANDigits && brandOK(d) && luhn(d)
}

// isPANASCII is isPAN on ASCII digits.
func isPANASCII(r []byte) bool {
	if len(r) < minPANDigits || len(r) > maxPANDigits {
		return false
	}
	var d [4]byte
	for k := range d {
		d[k] = r[k] - '0'
	}
	if !brandPrefixOK(d, len(r)) {
		return false
	}
	sum := 0
	i := len(r) - 1
	for ; i > 0; i -= 2 {
		sum += int(luhnPair[int(r[i-1]-'0')*10+int(r[i]-'0')])
	}
	if i == 0 {
		sum += int(r[0] - '0')
	}
	return sum%10 == 0
}

// keep returns how many leading and trailing digits of an n-digit PAN the shape leaves visible.
func (m *Masker) keep(n int) (head, tail int) {
	switch m.shape {
	case ShapeLast4:
		head, tail = 0, 4
	case ShapeFull:
		return 0, 0
	case ShapeFirst8Last4:
		head, tail = 8, 4
		if n < 16 {
			head = 6
		}
	default:
		head, tail = 6, 4
	}
	if n < minPANDigits { // a tagged value too short to be a PAN: hide it all
		return 0, 0
	}
	return head, tail
}

// runBuf is the per-run scratch: digit values, their byte offsets, break points and the DP tables.
type runBuf struct {
	d     []byte  // digit values 0–9
	pos   []int32 // byte offset of each digit in b
	brk   []bool  // brk[k]: a separator precedes digit k (or k is 0 or n)
	score []int16 // best number of PAN digits covered reaching k, -1 unreachable
	from  []int16 // predecessor of k on the best path
	isPan []bool  // the step into k is a PAN
}

// scan masks b in place; hidden digits become fill. fps, when not nil, collects fingerprints.
// fill 0 is a dry run: b is only read (Text uses it on the string's bytes to avoid a copy).
// It returns the number of PANs and track data masked.
func (m *Masker) scan(b []byte, fill byte, fps *[]string) int {
	count := 0
	i := 0
	// Where candidates are dense (a PAN per line), the block filter costs more than it saves: after it
	// stops at a candidate, scan the next bytes with the plain digit skip only.
	scalarUntil := 0
	for {
		if i >= scalarUntil {
			k := skipBlocks(b, i)
			if k-i < 64 {
				scalarUntil = k + 256
			}
			i = k
		}
		i = nextDigit(b, i)
		if i >= len(b) {
			return count
		}
		start, j, digits, seps := i, i, 0, 0
		for {
			// count digits eight at a time: the low zero bytes of "not a digit" are digits
			for j+8 <= len(b) {
				nd := bits.TrailingZeros64(^digitBits(binary.LittleEndian.Uint64(b[j:]))&hi8) >> 3
				digits += nd
				j += nd
				if nd < 8 {
					break
				}
			}
			for j < len(b) && j+8 > len(b) && isDigit(b[j]) {
				digits++
				j++
			}
			if j+1 < len(b) && (b[j] == ' ' || b[j] == '-') && isDigit(b[j+1]) {
				seps++
				j++
				continue
			}
			break
		}
		// E.164 phone numbers ("+62 812 3456 7890") have at most 15 digits; PANs are not written after '+'.
		if digits >= minPANDigits && !(digits <= 15 && start > 0 && b[start-1] == '+') {
			var k int
			k, j = m.run(b, start, j, digits, seps, fill, fps)
			count += k
		}
		i = j
	}
}

// run handles the candidate run b[start:end] with the given digit and separator counts. It returns the
// number masked and where scanning continues (past end when track data extends the run).
func (m *Masker) run(b []byte, start, end, digits, seps int, fill byte, fps *[]string) (int, int) {
	if seps == 0 && digits <= maxPANDigits {
		// The most common candidate: a plain run of 12–19 digits holds one PAN, track data or nothing.
		r := b[start:end]
		if k, next, ok := m.track(b, start, end, fill, fps); ok {
			return k, next
		}
		if !isPANASCII(r) {
			return 0, end
		}
		if fps != nil {
			*fps = append(*fps, m.fingerprintDigits(r))
		}
		if fill != 0 {
			head, tail := m.keep(len(r))
			var last byte
			if fill == numFillByte {
				var d [maxPANDigits]byte
				for k, c := range r {
					d[k] = c - '0'
				}
				last = '0' + numFill(d[:len(r)], head, len(r)-tail)
			}
			for k := head; k < len(r)-tail; k++ {
				r[k] = fill
			}
			if last != 0 {
				r[len(r)-tail-1] = last
			}
		}
		return 1, end
	}
	if digits <= maxPANDigits {
		// Most candidates: one grouped PAN, or a 12–19 digit number in groups. Decide without the DP.
		var d, pos [maxPANDigits]byte // digit values and their offsets in the run (< 38 bytes)
		n := 0
		for k := start; k < end; k++ {
			if c := b[k] - '0'; c < 10 {
				d[n] = c
				pos[n] = byte(k - start)
				n++
			}
		}
		if isPAN(d[:n]) {
			if fps != nil {
				var a [maxPANDigits]byte
				for k := 0; k < n; k++ {
					a[k] = d[k] + '0'
				}
				*fps = append(*fps, m.fingerprintDigits(a[:n]))
			}
			if fill != 0 {
				r := b[start:end]
				head, tail := m.keep(n)
				for k := head; k < n-tail; k++ {
					r[pos[k]] = fill
				}
				if fill == numFillByte {
					r[pos[n-tail-1]] = '0' + numFill(d[:n], head, n-tail)
				}
			}
			return 1, end
		}
		// At most 19 digits hold at most one PAN: try the windows between two break points.
		var brk [maxPANDigits + 1]int8
		nb, k := 1, 0
		for x := start; x < end; x++ {
			if isDigit(b[x]) {
				k++
			} else {
				brk[nb] = int8(k)
				nb++
			}
		}
		brk[nb] = int8(n)
		nb++
		bp, bq := 0, 0
		for a := 0; a < nb; a++ {
			for c := nb - 1; c > a; c-- {
				p, q := int(brk[a]), int(brk[c])
				if q-p < minPANDigits {
					break
				}
				if q-p > bq-bp && isPAN(d[p:q]) {
					bp, bq = p, q
				}
			}
		}
		if bq == 0 {
			return 0, end
		}
		m.maskWindow(b[start:end], d[bp:bq], bp, fill, fps)
		return 1, end
	}
	if seps == 0 && digits >= 2*minPANDigits {
		if k := m.hexRun(b[start:end], fill, fps); k > 0 {
			return k, end
		}
	}
	if digits <= maxRunDigits {
		var (
			d     [maxRunDigits]byte
			pos   [maxRunDigits]int32
			brk   [maxRunDigits + 1]bool
			score [maxRunDigits + 1]int16
			from  [maxRunDigits + 1]int16
			isPan [maxRunDigits + 1]bool
		)
		rb := runBuf{d[:digits], pos[:digits], brk[:digits+1], score[:digits+1], from[:digits+1], isPan[:digits+1]}
		return m.segment(b, start, end, &rb, fill, fps), end
	}
	if digits > 1<<14 { // beyond int16 bookkeeping: fail closed and hide every digit of the run
		for k := start; k < end && fill != 0; k++ {
			if isDigit(b[k]) {
				b[k] = fill
			}
		}
		return 1, end
	}
	rb := runPool.Get().(*runBuf)
	rb.size(digits)
	n := m.segment(b, start, end, rb, fill, fps)
	runPool.Put(rb)
	return n, end
}

// hexRun finds PANs written as hex-encoded ASCII inside a plain digit run: PostgreSQL's text output of
// bytea ("\x34313131…"), encode(…, 'hex'). ASCII digits are the bytes 0x30–0x39, so their hex is a pair
// "3d" and a hex-encoded PAN is a digit run of "3d" pairs. Both pair alignments are tried; the decoded
// digits go through the normal detector, and each hidden digit's pair becomes the hex of the fill.
func (m *Masker) hexRun(r []byte, fill byte, fps *[]string) int {
	for par := 0; par < 2; par++ {
		if n := m.hexPairs(r, par, fill, fps); n > 0 {
			return n
		}
	}
	return 0
}

// hexPairs masks hex-encoded ASCII PANs in the pairs of h that start at offset par.
func (m *Masker) hexPairs(h []byte, par int, fill byte, fps *[]string) int {
	const hexdig = "0123456789abcdef"
	count := 0
	for i := par; i+1 < len(h); {
		if h[i] != '3' || !isDigit(h[i+1]) {
			i += 2
			continue
		}
		j := i
		for j+1 < len(h) && h[j] == '3' && isDigit(h[j+1]) {
			j += 2
		}
		n := (j - i) / 2
		if n >= minPANDigits {
			var stack [128]byte
			var dec, out []byte
			if 2*n <= len(stack) {
				dec, out = stack[:n], stack[n:2*n]
			} else {
				dec, out = make([]byte, n), make([]byte, n)
			}
			for k := 0; k < n; k++ {
				dec[k] = h[i+2*k+1]
			}
			copy(out, dec)
			// inside a number the pairs must stay digits: the decoded digits get the number fill
			dfill := byte('*')
			if fill == numFillByte {
				dfill = numFillByte
			}
			if c := m.scan(out, dfill, fps); c > 0 {
				count += c
				for k := 0; k < n && fill != 0; k++ {
					if out[k] != dec[k] {
						h[i+2*k], h[i+2*k+1] = hexdig[fill>>4], hexdig[fill&15]
						if dfill == numFillByte {
							h[i+2*k], h[i+2*k+1] = '3', out[k]
						}
					}
				}
			}
		}
		i = j
	}
	return count
}

// byteaText masks a bytea value in PostgreSQL's text output: hex format ("\x…") is decoded pair by pair,
// so only the pairs of hidden digits change and the value still decodes; the escape format is plain text.
func (m *Masker) byteaText(v []byte, tagged bool) int {
	if len(v) < 2 || v[0] != '\\' || v[1] != 'x' {
		return m.textValue(v, m.fill, tagged, nil)
	}
	h := v[2:]
	if tagged {
		if n := m.hexPairs(h, 0, m.fill, nil); n > 0 {
			return n
		}
		// whole value: every pair becomes the fill's hex
		for k := 0; k+1 < len(h); k += 2 {
			h[k], h[k+1] = "0123456789abcdef"[m.fill>>4], "0123456789abcdef"[m.fill&15]
		}
		return 1
	}
	return m.hexPairs(h, 0, m.fill, nil)
}

// runPool holds scratch for runs longer than maxRunDigits, so that long digit strings (big numerics,
// digit-only ids) do not allocate on every value.
var runPool = sync.Pool{New: func() any { return new(runBuf) }}

// size makes rb hold a run of n digits, with brk cleared.
func (rb *runBuf) size(n int) {
	if cap(rb.d) < n {
		c := max(n, 256)
		*rb = runBuf{make([]byte, c), make([]int32, c), make([]bool, c+1),
			make([]int16, c+1), make([]int16, c+1), make([]bool, c+1)}
	}
	rb.d, rb.pos = rb.d[:n], rb.pos[:n]
	rb.brk, rb.score, rb.from, rb.isPan = rb.brk[:n+1], rb.score[:n+1], rb.from[:n+1], rb.isPan[:n+1]
	clear(rb.brk)
}

// maskWindow masks the PAN with digit values w that starts at digit index p of the run r.
func (m *Masker) maskWindow(r []byte, w []byte, p int, fill byte, fps *[]string) {
	if fps != nil {
		var a [maxPANDigits]byte
		for k, v := range w {
			a[k] = v + '0'
		}
		*fps = append(*fps, m.fingerprintDigits(a[:len(w)]))
	}
	if fill == 0 {
		return
	}
	head, tail := m.keep(len(w))
	if head > 6 && p > 0 {
		head = 6 // see maskPAN
	}
	lo, hi := p+head, p+len(w)-tail
	last := fill
	if fill == numFillByte {
		last = '0' + numFill(w, head, len(w)-tail)
	}
	k := 0
	for i, c := range r {
		if isDigit(c) {
			if k >= lo && k < hi {
				r[i] = fill
				if k == hi-1 {
					r[i] = last
				}
			}
			k++
		}
	}
}

// segment finds the best segmentation of a run into PANs and free groups (dynamic programming over digit
// positions) and masks the PANs.
func (m *Masker) segment(b []byte, start, end int, rb *runBuf, fill byte, fps *[]string) int {
	n := 0
	for k := start; k < end; k++ {
		c := b[k]
		if isDigit(c) {
			rb.d[n] = c - '0'
			rb.pos[n] = int32(k)
			n++
		} else {
			rb.brk[n] = true
		}
	}
	rb.brk[0], rb.brk[n] = true, true
	for k := range rb.score {
		rb.score[k] = -1
	}
	rb.score[0] = 0
	for p := 0; p < n; p++ {
		sp := rb.score[p]
		if sp < 0 {
			continue
		}
		if rb.brk[p] { // free step over the group to the next break point
			q := p + 1
			for !rb.brk[q] {
				q++
			}
			if sp > rb.score[q] {
				rb.score[q], rb.from[q], rb.isPan[q] = sp, int16(p), false
			}
		}
		for L := minPANDigits; L <= maxPANDigits && p+L <= n; L++ {
			if w := rb.d[p : p+L]; brandOK(w) && luhn(w) {
				q := p + L
				if s := sp + int16(L); s > rb.score[q] {
					rb.score[q], rb.from[q], rb.isPan[q] = s, int16(p), true
				}
			}
		}
	}
	if rb.score[n] <= 0 {
		return 0
	}
	count := 0
	first := 0
	if fps != nil {
		first = len(*fps)
	}
	for q := n; q > 0; {
		p := int(rb.from[q])
		if rb.isPan[q] {
			m.maskPAN(b, rb, p, q, fill, fps)
			count++
		}
		q = p
	}
	if fps != nil { // backtracking went right to left: restore order of appearance
		f := (*fps)[first:]
		for i, j := 0, len(f)-1; i < j; i, j = i+1, j-1 {
			f[i], f[j] = f[j], f[i]
		}
	}
	return count
}

// maskPAN masks digits p..q-1 of the run according to the shape.
func (m *Masker) maskPAN(b []byte, rb *runBuf, p, q int, fill byte, fps *[]string) {
	if fps != nil {
		var a [maxPANDigits]byte
		for k := p; k < q; k++ {
			a[k-p] = rb.d[k] + '0'
		}
		*fps = append(*fps, m.fingerprintDigits(a[:q-p]))
	}
	if fill == 0 { // dry run: count only
		return
	}
	head, tail := m.keep(q - p)
	if head > 6 && p > 0 {
		// digits precede this PAN in the same run (another PAN or a group): their visible digits plus eight
		// would form a new 12-digit candidate, so such a PAN shows at most six leading digits.
		head = 6
	}
	for k := p + head; k < q-tail; k++ {
		b[rb.pos[k]] = fill
	}
	if fill == numFillByte {
		b[rb.pos[q-tail-1]] = '0' + numFill(rb.d[p:q], head, q-p-tail)
	}
}

// track masks track-1 or track-2 data whose PAN is the separator-free run b[start:end]:
// track 1 "%B<PAN>^<NAME>^<data>?" and track 2 ";<PAN>=<data>?" (also 'D' as in ISO 8583 field 35).
// With a start sentinel the PAN need not pass the checks; without one it must be a PAN. Everything but
// sentinels and field separators is overwritten, including the PAN's visible digits (PCI DSS 3.3.1).
func (m *Masker) track(b []byte, start, end int, fill byte, fps *[]string) (int, int, bool) {
	if end >= len(b) || (b[end] != '^' && b[end] != '=' && b[end] != 'D') {
		return 0, 0, false
	}
	var d [maxPANDigits]byte
	n := end - start
	for k := 0; k < n; k++ {
		d[k] = b[start+k] - '0'
	}
	switch b[end] {
	case '^':
		if start < 1 || b[start-1] != 'B' {
			return 0, 0, false
		}
		sentinel := start >= 2 && b[start-2] == '%'
		if !sentinel && !isPAN(d[:n]) {
			return 0, 0, false
		}
		// name: up to 26 printable characters, then '^'
		k := end + 1
		for k < len(b) && k-end <= 27 && b[k] != '^' && b[k] >= 0x20 && b[k] < 0x7f {
			k++
		}
		if k >= len(b) || b[k] != '^' {
			return 0, 0, false
		}
		limit := start - 1 + maxTrack1
		k++
		for k < len(b) && k < limit && trackData(b[k]) {
			k++
		}
		m.fingerprintTrack(d[:n], fps)
		for x := start; x < k && fill != 0; x++ {
			if b[x] != '^' {
				b[x] = fill
			}
		}
		return 1, k, true
	case '=', 'D':
		sentinel := start >= 1 && b[start-1] == ';'
		if !sentinel && !isPAN(d[:n]) {
			return 0, 0, false
		}
		k := end + 1
		limit := start + maxTrack2
		for k < len(b) && k < limit && isDigit(b[k]) {
			k++
		}
		if k-end-1 < 4 { // expiry YYMM at least
			return 0, 0, false
		}
		m.fingerprintTrack(d[:n], fps)
		for x := start; x < k && fill != 0; x++ {
			if x != end {
				b[x] = fill
			}
		}
		return 1, k, true
	}
	return 0, 0, false
}

// trackData reports whether c may continue track-1 discretionary data (stops at the end sentinel '?' and
// at quoting or delimiting characters of the text around it).
func trackData(c byte) bool {
	return c > 0x20 && c < 0x7f && c != '?' && c != '"' && c != '\'' && c != ',' && c != '\\' && c != '%' && c != ';'
}

func (m *Masker) fingerprintTrack(d []byte, fps *[]string) {
	if fps == nil {
		return
	}
	var a [maxPANDigits]byte
	for k, v := range d {
		a[k] = v + '0'
	}
	*fps = append(*fps, m.fingerprintDigits(a[:len(d)]))
}

// maskValue masks a whole value of a column tagged as cardholder data, whatever it holds: detected PANs
// get the shape; otherwise the value's digits are treated as one PAN (shape over all digits, all hidden
// when fewer than 12) and, with a text fill, every letter is hidden too.
func (m *Masker) maskValue(b []byte, fill byte, fps *[]string) int {
	if n := m.scan(b, fill, fps); n > 0 {
		return n
	}
	digits := 0
	letters := false
	for _, c := range b {
		if isDigit(c) {
			digits++
		} else if (c|0x20)-'a' < 26 {
			letters = true
		}
	}
	if digits == 0 && (!letters || fill == numFillByte) {
		if fill != numFillByte && hasHigh(b) {
			hideUnicode(b, fill)
			return 1
		}
		return 0
	}
	head, tail := m.keep(digits)
	last := fill
	if fill == numFillByte && digits > 0 {
		var stack [maxRunDigits]byte
		d := stack[:0]
		if digits > len(stack) {
			d = make([]byte, 0, digits)
		}
		for _, c := range b {
			if isDigit(c) {
				d = append(d, c-'0')
			}
		}
		last = '0' + numFill(d, head, digits-tail)
	}
	k := 0
	for i, c := range b {
		if isDigit(c) {
			if k >= head && k < digits-tail {
				b[i] = fill
				if k == digits-tail-1 {
					b[i] = last
				}
			}
			k++
		} else if fill != numFillByte && (c|0x20)-'a' < 26 {
			b[i] = fill
		}
	}
	if fill != numFillByte && hasHigh(b) {
		hideUnicode(b, fill)
	}
	return 1
}

// hideUnicode overwrites every byte of each non-ASCII digit and letter of b with fill (a tagged text
// value written in fullwidth or another script's digits).
func hideUnicode(b []byte, fill byte) {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if _, ok := digitValue(r); ok || unicode.IsLetter(r) {
			for x := i; x < i+size; x++ {
				b[x] = fill
			}
		}
		i += size
	}
}

// numFillByte is the fill of numbers (int8, numeric, float, JSON numbers, in text or binary): hidden
// digits must stay digits so that the value still parses, and numFill chooses them.
const numFillByte = '0'

// numFill chooses the hidden digits lo..hi-1 of the digit values w masked as a number: zeros, except the
// last hidden digit, which is the smallest value that makes the masked digits fail the Luhn check and
// differ from w. Every PAN passes Luhn, so a masked PAN can never equal the original, nor be taken for a
// PAN again by a later scan (zero-filling alone returned a PAN whose hidden digits are zeros unchanged;
// docs/masking.md). It returns that last digit's value; lo < hi.
func numFill(w []byte, lo, hi int) byte { return numFillAt(w, lo, hi, hi-1) }

// numFillAt is numFill with the non-zero digit at index at (lo ≤ at < hi) instead of the last hidden one.
func numFillAt(w []byte, lo, hi, at int) byte {
	var stack [maxRunDigits]byte
	t := stack[:0]
	if len(w) > len(stack) {
		t = make([]byte, 0, len(w))
	}
	t = append(t, w...)
	zeros := true // w's other hidden digits are zeros already
	for k := lo; k < hi; k++ {
		if k != at && t[k] != 0 {
			zeros = false
		}
		t[k] = 0
	}
	// One of the ten values passes Luhn (doubling is a bijection on a digit) and at most one repeats w:
	// eight candidates always remain.
	for v := byte(0); v < 10; v++ {
		t[at] = v
		if !luhn(t) && !(zeros && v == w[at]) {
			return v
		}
	}
	return 1 // unreachable
}
