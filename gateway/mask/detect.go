package mask

// maxRunDigits bounds the digits of one candidate run handled on the stack.
const maxRunDigits = 64

func isDigit(c byte) bool { return c-'0' < 10 }

// mayHoldPAN is a cheap pre-check: fewer than 12 digits cannot hold a PAN or track data.
func mayHoldPAN(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
			if n >= 12 {
				return true
			}
		}
	}
	return false
}

// scan masks b in place with fill for hidden digits; fps, when not nil, collects fingerprints.
func (m *Masker) scan(b []byte, fill byte, fps *[]string) int {
	_ = b
	_ = fill
	_ = fps
	return 0 // TODO: detector
}
