package schemas

// Ed25519 keys in PEM files, one format for every signer: the gateway's checkpoint key, the approver's
// decision key, the reporter's package key and reviewers' keys — private keys PKCS #8 ("PRIVATE KEY"),
// public keys PKIX ("PUBLIC KEY"), named by KeyID.

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadPrivateKey reads an Ed25519 private key (PKCS #8 PEM) from path.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("schemas: read private key: %w", err)
	}
	k, err := ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("schemas: private key %s: %w", path, err)
	}
	return k, nil
}

// ParsePrivateKey reads an Ed25519 private key from PKCS #8 PEM.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("PEM holds a %T, not an Ed25519 private key", k)
	}
	return ek, nil
}

// ParsePublicKey reads an Ed25519 public key from PKIX PEM.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("PEM holds a %T, not an Ed25519 public key", k)
	}
	return ek, nil
}

// EncodePrivateKey renders key as PKCS #8 PEM.
func EncodePrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// EncodePublicKey renders pub as PKIX PEM.
func EncodePublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// WriteKeyPair generates an Ed25519 key and writes the private key (PKCS #8 PEM, mode 0600) to privPath
// and the public key (PKIX PEM) to pubPath; it refuses to overwrite privPath. It returns the key id.
func WriteKeyPair(privPath, pubPath string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	pk, err := EncodePrivateKey(priv)
	if err != nil {
		return "", err
	}
	pb, err := EncodePublicKey(pub)
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("schemas: create %s (an existing signing key is never overwritten): %w", privPath, err)
	}
	if _, err := f.Write(pk); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if pubPath != "" {
		if err := os.WriteFile(pubPath, pb, 0o644); err != nil {
			return "", err
		}
	}
	return KeyID(pub), nil
}
