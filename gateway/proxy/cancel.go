package proxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// cancelCodec turns an upstream backend's (pid, secret) into the BackendKeyData the client sees and back,
// with a 64-bit keyed permutation shared by every gateway instance (cancel_key_file), so that a
// CancelRequest reaching any instance can be forwarded without shared state (invariant 7).
//
// The permutation is a balanced Feistel network over two 32-bit halves with HMAC-SHA256 round functions
// (10 rounds; four already give a strong pseudorandom permutation by Luby–Rackoff). Trade-offs, chosen on
// purpose:
//
//   - Nothing is stored, and the client's 64 bits carry the whole upstream key, so no room is left for a
//     MAC or a target index. A forged key decodes to a random (pid, secret) pair that PostgreSQL rejects
//     unless the 32-bit secret matches: forging is exactly as hard as guessing PostgreSQL's own secret.
//   - The decoded pair does not say which target it belongs to, so the cancel is sent to every configured
//     target; a backend whose pid/secret do not match ignores it.
//   - An upstream key longer than 4 bytes (protocol 3.2) cannot be carried: such sessions get a random
//     key and cannot be cancelled.
type cancelCodec struct {
	key []byte
}

const cancelRounds = 10

func (c cancelCodec) round(i int, half uint32) uint32 {
	m := hmac.New(sha256.New, c.key)
	var b [5]byte
	b[0] = byte(i)
	binary.BigEndian.PutUint32(b[1:], half)
	m.Write(b[:])
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint32(m.Sum(sum[:0]))
}

// seal maps the upstream (pid, secret) to the client's (pid, secret).
func (c cancelCodec) seal(pid, secret uint32) (uint32, uint32) {
	l, r := pid, secret
	for i := 0; i < cancelRounds; i++ {
		l, r = r, l^c.round(i, r)
	}
	return l, r
}

// open inverts seal.
func (c cancelCodec) open(pid, secret uint32) (uint32, uint32) {
	l, r := pid, secret
	for i := cancelRounds - 1; i >= 0; i-- {
		l, r = r^c.round(i, l), l
	}
	return l, r
}
