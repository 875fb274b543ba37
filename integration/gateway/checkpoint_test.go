package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/pangate/pangate/schemas"
)

// TestCheckpointsAndRun checks the gateway's own chain: gateway.started with clock facts, policy.loaded,
// signed checkpoints (empty ones too) that list the head of a finished session, and gateway.stopped last,
// all verifiable with the public key alone.
func TestCheckpointsAndRun(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	c := g.connect(t, f.Role, "ci-checkpoint")
	_, err := c.Exec(context.Background(), "SELECT 1")
	must(t, err)
	must(t, c.Close(context.Background()))

	var head schemas.SessionHead
	evs := g.events(t, func(evs []schemas.Event) bool {
		for _, s := range clientSessions(evs) {
			last := s[len(s)-1]
			if last.Type == schemas.TypeSessionEnded {
				head = schemas.SessionHead{Session: last.Session, Seq: last.Seq, Hash: last.Hash, Ended: true}
			}
		}
		if head.Session == "" {
			return false
		}
		for _, e := range evs {
			if e.Type == schemas.TypeGatewayCheckpoint {
				var cp schemas.Checkpoint
				if e.Decode(&cp) == nil {
					for _, h := range cp.Sessions {
						if h == head {
							return true
						}
					}
				}
			}
		}
		return false
	})
	g.Stop()
	evs = g.events(t, func(evs []schemas.Event) bool {
		for _, e := range evs {
			if e.Type == schemas.TypeGatewayStopped {
				return true
			}
		}
		return false
	})
	var run []schemas.Event
	for _, e := range evs {
		if e.Type == schemas.TypeGatewayStarted {
			run = sessions(evs)[e.Session]
		}
	}
	if len(run) < 4 {
		t.Fatalf("run chain too short: %s", typesOf(run))
	}
	if err := schemas.VerifySession(run); err != nil {
		t.Fatalf("run chain: %v", err)
	}
	if run[0].Type != schemas.TypeGatewayStarted || run[1].Type != schemas.TypePolicyLoaded || run[len(run)-1].Type != schemas.TypeGatewayStopped {
		t.Fatalf("run chain order: %s", typesOf(run))
	}
	var gs schemas.GatewayStarted
	must(t, run[0].Decode(&gs))
	if gs.Clock.Detail == "" || gs.KeyID == "" || gs.CheckpointIntervalMS != 1000 {
		t.Errorf("gateway.started: %+v", gs)
	}
	var cps []schemas.Checkpoint
	empty := 0
	for _, e := range run {
		if e.Type == schemas.TypeGatewayCheckpoint {
			var cp schemas.Checkpoint
			must(t, e.Decode(&cp))
			cps = append(cps, cp)
			if len(cp.Sessions) == 0 {
				empty++
			}
		}
	}
	pub := readPub(t, filepath.Join(filepath.Dir(g.KeyFile), "checkpoint.pub.pem"))
	if err := schemas.VerifyCheckpoints(cps, pub); err != nil {
		t.Fatalf("checkpoints: %v", err)
	}
	if gs.KeyID != schemas.KeyID(pub) {
		t.Errorf("gateway.started key id %s, key is %s", gs.KeyID, schemas.KeyID(pub))
	}
	if empty == 0 {
		t.Errorf("no empty checkpoint among %d: a silent interval must still be checkpointed", len(cps))
	}
	// Tampering is detected with the public key alone.
	cps[0].Sessions = append(cps[0].Sessions, schemas.SessionHead{Session: "forged", Hash: "00"})
	if err := schemas.VerifyCheckpoints(cps, pub); err == nil {
		t.Fatal("an edited checkpoint verifies")
	}
}

func readPub(t *testing.T, path string) ed25519.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	must(t, err)
	return k.(ed25519.PublicKey)
}
