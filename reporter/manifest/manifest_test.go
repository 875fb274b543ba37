package manifest

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/pangate/pangate/schemas"
)

func TestMarshalParseRoundTrip(t *testing.T) {
	m := &Manifest{Format: Format, Kind: KindPackage, Counts: map[string]int64{"events": 2}, Files: []File{{Path: "a.csv", SHA256: "00", PCI: []string{"10.2.1.1"}}}}
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil || got.File("a.csv") == nil || got.Counts["events"] != 2 {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := Parse([]byte(`{"format":"other"}`)); !errors.Is(err, ErrFormat) {
		t.Fatalf("foreign format: %v", err)
	}
	if _, err := Parse([]byte(`{"format":"pangate-evidence/1","extra":1}`)); !errors.Is(err, ErrFormat) {
		t.Fatalf("unknown member accepted: %v", err)
	}
}

func TestKeysRoundTripAndSignature(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	kb, _ := schemas.EncodePrivateKey(key)
	pb, _ := schemas.EncodePublicKey(pub)
	k2, err := ParsePrivateKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := ParsePublicKey(pb)
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := Sign([]byte("m"), k2)
	if err := VerifySignature([]byte("m"), sig, p2); err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature([]byte("n"), sig, p2); !errors.Is(err, ErrSignature) {
		t.Fatalf("other message: %v", err)
	}
	other, _, _ := ed25519.GenerateKey(nil)
	if err := VerifySignature([]byte("m"), sig, other); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("other key: %v", err)
	}
	if _, err := ParsePublicKey(kb); !errors.Is(err, ErrKey) {
		t.Fatalf("private key as public: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"format":"pangate-evidence/1","files":[{"path":"a"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err == nil && m.Format != Format {
			t.Fatalf("accepted format %q", m.Format)
		}
	})
}

func FuzzVerifySignature(f *testing.F) {
	pub, key, _ := ed25519.GenerateKey(nil)
	sig, _ := Sign([]byte("manifest"), key)
	f.Add([]byte("manifest"), sig)
	f.Add([]byte("x"), []byte(`{"algorithm":"ed25519","key_id":"","signature":"AAAA"}`))
	f.Fuzz(func(t *testing.T, msg, sig []byte) {
		if err := VerifySignature(msg, sig, pub); err == nil && string(msg) != "manifest" {
			t.Fatalf("forged signature verified for %q", msg)
		}
	})
}
