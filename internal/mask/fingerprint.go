package mask

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// FingerprintHexLen is the length of a fingerprint: 64 bits of HMAC-SHA256, enough to correlate PANs in
// an audit trail, too short to serve as a lookup table for brute force without the key anyway.
const FingerprintHexLen = 16

// Fingerprint returns the keyed fingerprint of a PAN (PCI DSS 3.5.1.1): hex of the first 8 bytes of
// HMAC-SHA256(key, digits), where digits are the PAN's decimal digits with separators removed, so that
// "4111 1111 1111 1111" and "4111111111111111" agree. It returns "" when no key is configured.
func (m *Masker) Fingerprint(pan []byte) string {
	if len(m.key) == 0 {
		return ""
	}
	var d [maxRunDigits]byte
	n := 0
	for _, c := range pan {
		if isDigit(c) && n < len(d) {
			d[n] = c
			n++
		}
	}
	return m.fingerprintDigits(d[:n])
}

// fingerprintDigits fingerprints ASCII digits. It copies them first: handing d itself to the hash
// interface would make every buffer the detector scans escape to the heap.
func (m *Masker) fingerprintDigits(d []byte) string {
	a := make([]byte, len(d))
	copy(a, d)
	h := hmac.New(sha256.New, m.key)
	h.Write(a)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:FingerprintHexLen/2])
}
