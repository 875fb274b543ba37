package schemas

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrBadSignature is returned when a checkpoint's signature does not verify.
var ErrBadSignature = errors.New("schemas: checkpoint signature does not verify")

// KeyID is the fingerprint of an Ed25519 public key: the first 16 bytes of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:16])
}

// checkpointSigningBytes is the canonical encoding of cp without its signature.
func checkpointSigningBytes(cp Checkpoint) ([]byte, error) {
	cp.Signature = ""
	b, err := json.Marshal(cp)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "signature")
	b, err = json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return Canonical(b)
}

// SignCheckpoint sets cp.KeyID and cp.Signature with key.
func SignCheckpoint(cp *Checkpoint, key ed25519.PrivateKey) error {
	cp.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	msg, err := checkpointSigningBytes(*cp)
	if err != nil {
		return fmt.Errorf("schemas: sign checkpoint %d of %s: %w", cp.Number, cp.Instance, err)
	}
	cp.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
	return nil
}

// SealCheckpoint lists heads in cp (sorted by session, the order every writer of checkpoints uses, so equal
// heads give equal bytes) and signs it with key. The gateway's checkpointer and the indexer's seeder both
// seal their checkpoints here.
func SealCheckpoint(cp *Checkpoint, heads []SessionHead, key ed25519.PrivateKey) error {
	slices.SortFunc(heads, func(a, b SessionHead) int { return strings.Compare(a.Session, b.Session) })
	cp.Sessions = heads
	return SignCheckpoint(cp, key)
}

// VerifyCheckpoint checks cp's signature with pub.
func VerifyCheckpoint(cp Checkpoint, pub ed25519.PublicKey) error {
	if cp.KeyID != KeyID(pub) {
		return fmt.Errorf("%w: checkpoint %d of %s names key %s, not %s", ErrBadSignature, cp.Number, cp.Instance, cp.KeyID, KeyID(pub))
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: checkpoint %d of %s has a malformed signature", ErrBadSignature, cp.Number, cp.Instance)
	}
	msg, err := checkpointSigningBytes(cp)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%w: checkpoint %d of %s", ErrBadSignature, cp.Number, cp.Instance)
	}
	return nil
}

// CheckpointHash is what the next checkpoint's Prev must hold: the hex SHA-256 of cp's canonical data,
// signature included.
func CheckpointHash(cp Checkpoint) (string, error) {
	b, err := json.Marshal(cp)
	if err != nil {
		return "", err
	}
	c, err := Canonical(b)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// VerifyCheckpoints checks the checkpoints of one gateway run in order: signatures, numbering from 0
// without gaps, and each Prev linking to the previous checkpoint.
func VerifyCheckpoints(cps []Checkpoint, pub ed25519.PublicKey) error {
	prev := GenesisPrev
	for i, cp := range cps {
		if err := VerifyCheckpoint(cp, pub); err != nil {
			return err
		}
		if cp.Number != uint64(i) {
			return fmt.Errorf("%w: run %s of %s: checkpoint number %d at position %d: checkpoints missing or reordered", ErrChain, cp.Run, cp.Instance, cp.Number, i)
		}
		if cp.Prev != prev {
			return fmt.Errorf("%w: run %s of %s: checkpoint %d does not link to checkpoint %d", ErrChain, cp.Run, cp.Instance, cp.Number, i-1)
		}
		h, err := CheckpointHash(cp)
		if err != nil {
			return err
		}
		prev = h
	}
	return nil
}
