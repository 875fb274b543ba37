package manifest

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/pangate/pangate/schemas"
)

// Algorithm is the only signature algorithm manifest.sig carries.
const Algorithm = "ed25519"

// Signature is the content of manifest.sig: an Ed25519 signature over the exact bytes of manifest.json,
// with the fingerprint of the public key that verifies it.
type Signature struct {
	Algorithm string `json:"algorithm"`
	KeyID     string `json:"key_id"`    // schemas.KeyID of the public key
	Signature string `json:"signature"` // base64
}

// Errors of signature checking.
var (
	// ErrSignature is returned when manifest.sig does not verify manifest.json with the given key.
	ErrSignature = errors.New("manifest: signature does not verify")
	// ErrWrongKey is returned when manifest.sig names a key other than the one given.
	ErrWrongKey = errors.New("manifest: signed by another key")
	// ErrKey is returned for a key file that is not an Ed25519 key in PEM.
	ErrKey = errors.New("manifest: not an Ed25519 key")
)

// Sign returns the manifest.sig bytes for manifestJSON.
func Sign(manifestJSON []byte, key ed25519.PrivateKey) ([]byte, error) {
	s := Signature{
		Algorithm: Algorithm,
		KeyID:     schemas.KeyID(key.Public().(ed25519.PublicKey)),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, manifestJSON)),
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// VerifySignature checks sig (manifest.sig bytes) over manifestJSON with pub.
func VerifySignature(manifestJSON, sig []byte, pub ed25519.PublicKey) error {
	var s Signature
	if err := json.Unmarshal(sig, &s); err != nil {
		return fmt.Errorf("%w: %s is not JSON: %v", ErrSignature, SignatureName, err)
	}
	if s.Algorithm != Algorithm {
		return fmt.Errorf("%w: algorithm %q, want %q", ErrSignature, s.Algorithm, Algorithm)
	}
	if want := schemas.KeyID(pub); s.KeyID != want {
		return fmt.Errorf("%w: %s names key %s, the given public key is %s", ErrWrongKey, SignatureName, s.KeyID, want)
	}
	raw, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("%w: malformed signature in %s", ErrSignature, SignatureName)
	}
	if !ed25519.Verify(pub, manifestJSON, raw) {
		return fmt.Errorf("%w: %s does not match %s under key %s (the manifest or the signature was changed)", ErrSignature, SignatureName, FileName, s.KeyID)
	}
	return nil
}

// ParsePrivateKey reads a PKCS #8 PEM Ed25519 private key (schemas.ParsePrivateKey, the format of every
// pangate signing key); its errors match ErrKey.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	k, err := schemas.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return k, nil
}

// ParsePublicKey reads a PKIX PEM Ed25519 public key (schemas.ParsePublicKey); its errors match ErrKey.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	k, err := schemas.ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return k, nil
}

// LoadPrivateKey reads a private key file.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: read signing key: %w", err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKey reads a public key file.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: read public key: %w", err)
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
