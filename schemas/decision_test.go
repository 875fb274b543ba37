package schemas

import (
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
)

func TestVerifyDecision(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	otherPub, other, _ := ed25519.GenerateKey(nil)
	keys := DecisionKeys{}
	keys.Add(key.Public().(ed25519.PublicKey))
	base := ApprovalDecided{ApprovalID: "a1", Decision: "approved", By: "U1", ByName: "alice", Reason: "ok", LatencyMS: 10, Request: "req-hash"}
	signed := func(d ApprovalDecided, k ed25519.PrivateKey) ApprovalDecided {
		if err := SignDecision(&d, k); err != nil {
			t.Fatal(err)
		}
		return d
	}
	good := signed(base, key)
	cases := []struct {
		name    string
		d       ApprovalDecided
		request string
		reason  string // "" = valid
	}{
		{"valid", good, "req-hash", ""},
		{"valid without request check", good, "", ""},
		{"unsigned", base, "req-hash", RejectUnsigned},
		{"other key", signed(base, other), "req-hash", RejectUnknownKey},
		{"other key claiming trusted key id", func() ApprovalDecided { d := signed(base, other); d.KeyID = good.KeyID; return d }(), "req-hash", RejectBadSignature},
		{"replayed for another approval id", func() ApprovalDecided { d := good; d.ApprovalID = "a2"; return d }(), "req-hash", RejectBadSignature},
		{"decision flipped", func() ApprovalDecided {
			d := signed(ApprovalDecided{ApprovalID: "a1", Decision: "denied", By: "U1", Request: "req-hash"}, key)
			d.Decision = "approved"
			return d
		}(), "req-hash", RejectBadSignature},
		{"decider changed", func() ApprovalDecided { d := good; d.By = "U2"; return d }(), "req-hash", RejectBadSignature},
		{"latency changed", func() ApprovalDecided { d := good; d.LatencyMS = 11; return d }(), "req-hash", RejectBadSignature},
		{"answers another request", good, "other-hash", RejectOtherRequest},
		{"garbage signature", func() ApprovalDecided { d := good; d.Signature = "!!"; return d }(), "req-hash", RejectBadSignature},
	}
	_ = otherPub
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := VerifyDecision(c.d, keys, c.request)
			if c.reason == "" {
				if err != nil {
					t.Fatalf("valid decision refused: %v", err)
				}
				return
			}
			var de *DecisionError
			if !errors.As(err, &de) || !errors.Is(err, ErrDecisionSignature) {
				t.Fatalf("got %v, want a DecisionError %s", err, c.reason)
			}
			if de.Reason != c.reason {
				t.Fatalf("reason %s, want %s (%v)", de.Reason, c.reason, err)
			}
		})
	}
}

func TestDecisionKeysRotation(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	var privs []ed25519.PrivateKey
	for _, n := range []string{"old", "new"} {
		priv, pub := filepath.Join(dir, n+".pem"), filepath.Join(dir, n+".pub.pem")
		if _, err := WriteKeyPair(priv, pub); err != nil {
			t.Fatal(err)
		}
		if _, err := WriteKeyPair(priv, pub); err == nil {
			t.Fatal("WriteKeyPair overwrote an existing private key")
		}
		k, err := LoadPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		privs, paths = append(privs, k), append(paths, pub)
	}
	keys, err := LoadDecisionKeys(paths)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v err %v", keys.IDs(), err)
	}
	for _, k := range privs {
		d := ApprovalDecided{ApprovalID: "a", Decision: "denied", By: "U"}
		if err := SignDecision(&d, k); err != nil {
			t.Fatal(err)
		}
		if err := VerifyDecision(d, keys, ""); err != nil {
			t.Fatalf("key %s: %v", d.KeyID, err)
		}
		only := DecisionKeys{}
		only.Add(privs[1].Public().(ed25519.PublicKey))
		if err := VerifyDecision(d, only, ""); (err == nil) != (d.KeyID == KeyID(privs[1].Public().(ed25519.PublicKey))) {
			t.Fatalf("after removing the old key: key %s err %v", d.KeyID, err)
		}
	}
}
