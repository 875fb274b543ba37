package integrity

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"

	"github.com/pangate/pangate/schemas"
)

var hashMember = []byte(`,"hash":"`)

// RecomputeRaw returns the hash of the event whose Kafka record value (its canonical encoding with "hash",
// as schemas.Marshal writes it) is raw, without decoding the data: the envelope's "hash" member is the last
// one in the record, because every member after it is a string or number that cannot hold an unescaped
// quote. If the bytes are not in that form it falls back to parsing and re-encoding.
//
// A match proves the bytes minus the hash member are exactly what the producer hashed, so the envelope
// parsed from raw is the original one.
//
// claimed is the hash the record states; when the fast path disagrees with it (bytes written in a
// non-canonical form) the event is decoded and re-encoded, so only a change of content counts as an edit.
func RecomputeRaw(raw []byte, claimed string) (string, error) {
	i := bytes.LastIndex(raw, hashMember)
	if i >= 0 {
		j := i + len(hashMember)
		if k := bytes.IndexByte(raw[j:], '"'); k >= 0 {
			h := sha256.New()
			h.Write(raw[:i])
			h.Write(raw[j+k+1:])
			if got := hex.EncodeToString(h.Sum(nil)); got == claimed {
				return got, nil
			}
		}
	}
	e, err := schemas.Parse(raw)
	if err != nil {
		return "", err
	}
	return schemas.HashEvent(e)
}
