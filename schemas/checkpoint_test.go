package schemas

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
)

// TestSealCheckpoint: the heads are listed in session order whatever order they come in (the gateway takes
// them from a map), the result verifies, and two seals of the same heads give the same hash.
func TestSealCheckpoint(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	heads := func() []SessionHead {
		return []SessionHead{{Session: "s3", Seq: 3, Hash: GenesisPrev}, {Session: "s1", Seq: 1, Hash: GenesisPrev},
			{Session: "s2", Seq: 2, Hash: GenesisPrev}}
	}
	base := Checkpoint{Instance: "gw-1", Run: "run-1", Number: 4, Prev: GenesisPrev, From: "2026-11-27T10:00:00.000000Z",
		To: "2026-11-27T10:01:00.000000Z", IntervalMS: 60000}
	a, b := base, base
	if err := SealCheckpoint(&a, heads(), key); err != nil {
		t.Fatal(err)
	}
	rev := heads()
	rev[0], rev[2] = rev[2], rev[0]
	if err := SealCheckpoint(&b, rev, key); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"s1", "s2", "s3"} {
		if a.Sessions[i].Session != want {
			t.Fatalf("heads %v: position %d is %s, want %s", a.Sessions, i, a.Sessions[i].Session, want)
		}
	}
	if err := VerifyCheckpoint(a, pub); err != nil {
		t.Fatalf("sealed checkpoint does not verify: %v", err)
	}
	ha, _ := CheckpointHash(a)
	hb, _ := CheckpointHash(b)
	if ha != hb {
		t.Errorf("same heads in another order hash differently: %s vs %s", ha, hb)
	}
	a.Sessions[0].Seq++
	if err := VerifyCheckpoint(a, pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a changed head still verifies (err %v)", err)
	}
}
