package query

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

// sampleRecord is one canonical query.executed record, its session and its hash.
func sampleRecord(t *testing.T) (raw, session, hash string) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	b := scenario.New(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	s := b.Gateway("gw-1", key, time.Minute).Session(scenario.Identity{Subject: "s"})
	e := s.Query(scenario.Statement("SELECT 1", "read", nil, false), "ok", 1, nil)
	rec, err := schemas.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(rec), e.Session, e.Hash
}

// TestDigestIsLowerHexOnly: the stated digest matches only as the sum in lower-case hex, as the decode and
// lower-case scan it replaced decided (an upper-case or malformed digest goes the slow way).
func TestDigestIsLowerHexOnly(t *testing.T) {
	sum := sha256.Sum256([]byte("record"))
	lower := hex.EncodeToString(sum[:])
	other := sha256.Sum256([]byte("other"))
	mixed := []byte(lower)
	for i, c := range mixed {
		if c >= 'a' && c <= 'f' {
			mixed[i] = c - 'a' + 'A'
			break
		}
	}
	for _, tc := range []struct {
		name, stated string
		sum          []byte
		want         bool
	}{
		{"lower-case digest of the sum", lower, sum[:], true},
		{"upper-case digest", strings.ToUpper(lower), sum[:], false},
		{"one upper-case letter", string(mixed), sum[:], false},
		{"another sum", hex.EncodeToString(other[:]), sum[:], false},
		{"truncated", lower[:63], sum[:], false},
		{"a byte short", lower[:62], sum[:], false},
		{"extra character", lower + "0", sum[:], false},
		{"not hex", "g" + lower[1:], sum[:], false},
		{"empty", "", sum[:], false},
	} {
		// The former test: decode the stated digest, compare, and reject upper case.
		var claimed [sha256.Size]byte
		n, err := hex.Decode(claimed[:], []byte(tc.stated))
		former := err == nil && n == sha256.Size && len(tc.stated) == 2*sha256.Size && bytes.Equal(tc.sum, claimed[:]) && !strings.ContainsAny(tc.stated, "ABCDEF")
		if got := digestIs(tc.sum, tc.stated); got != tc.want || got != former {
			t.Errorf("%s: digestIs = %v, want %v (former test: %v)", tc.name, got, tc.want, former)
		}
	}
}

// TestDecodeUpperCaseDigestIsNotVerifiedFast: a record whose stated hash is the right digest in upper case
// is not accepted by the fast path (the canonical record states lower-case hex), so it is not reported
// as verified with the upper-case hash.
func TestDecodeUpperCaseDigestIsNotVerifiedFast(t *testing.T) {
	raw, session, hash := sampleRecord(t)
	upper := strings.Replace(raw, `"hash":"`+hash+`"`, `"hash":"`+strings.ToUpper(hash)+`"`, 1)
	if upper == raw {
		t.Fatal("sample record has no hash member")
	}
	if r := decodeRow(upper, session); r.Recomputed == r.Event.Hash {
		t.Fatalf("record with an upper-case digest verified: %+v", r)
	}
	if r := decodeRow(raw, session); r.Recomputed != hash {
		t.Fatalf("intact record: recomputed %s, want %s", r.Recomputed, hash)
	}
}
