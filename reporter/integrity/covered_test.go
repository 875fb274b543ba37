package integrity_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/schemas"
)

// longRun is one gateway run with about 40 checkpoints and a few sessions.
func longRun(t *testing.T) *world {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	b := scenario.New(t0)
	gw := b.Gateway("gw-1", key, time.Minute)
	s1 := gw.Session(scenario.Identity{Subject: "repo:acme/etl"})
	s2 := gw.Session(scenario.Identity{Subject: "alice", Human: true})
	for i := 0; i < 40; i++ {
		b.Advance(time.Minute)
		s1.Query(scenario.Statement(fmt.Sprintf("SELECT %d", i), "read", nil, false), "ok", 1, nil)
		if i%7 == 0 {
			s2.Query(scenario.Statement("SELECT pan FROM cards", "read", []string{"cards"}, true), "ok", 2, nil)
		}
	}
	s1.End()
	s2.End()
	b.Advance(2 * time.Minute)
	gw.Stop()
	return &world{b: b, gw: gw, pub: pub, s1: s1, s2: s2}
}

// checkBatches runs the checker with the checkpoints added in batches of batch (all at once when 0), in a
// shuffled order when seed is not 0, and returns the report as JSON.
func checkBatches(t *testing.T, w *world, events []schemas.Event, batch int, seed int64) (string, *integrity.Report) {
	t.Helper()
	canon := make([]schemas.Event, len(events))
	for i, e := range events {
		if c, err := schemas.Canonical(e.Data); err == nil {
			e.Data = c
		}
		canon[i] = e
	}
	c, err := integrity.New(integrity.Config{From: t0, To: t0.Add(24 * time.Hour), Keys: map[string]ed25519.PublicKey{schemas.KeyID(w.pub): w.pub},
		Now: func() time.Time { return t0.Add(24 * time.Hour) }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cps := scenario.Checkpoints(canon)
	if seed != 0 {
		rand.New(rand.NewSource(seed)).Shuffle(len(cps), func(i, j int) { cps[i], cps[j] = cps[j], cps[i] })
	}
	if batch <= 0 {
		batch = len(cps)
	}
	for len(cps) > 0 {
		n := min(batch, len(cps))
		c.AddCheckpoints(cps[:n])
		cps = cps[n:]
	}
	for _, e := range scenario.BySession(append(canon, w.b.Approvals...)) {
		if err := c.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	r := c.Finish()
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(js), r
}

// editCheckpoint applies f to checkpoint number n of the run and stores it as an attacker with write access
// would: data re-encoded canonically and the event rehashed (the run chain's own hash check passes).
func editCheckpoint(ev []schemas.Event, n uint64, f func(cp *schemas.Checkpoint)) []schemas.Event {
	for i, e := range ev {
		if e.Type != schemas.TypeGatewayCheckpoint {
			continue
		}
		var cp schemas.Checkpoint
		if err := e.Decode(&cp); err != nil || cp.Number != n {
			continue
		}
		f(&cp)
		b, _ := json.Marshal(cp)
		ev[i].Data, _ = schemas.Canonical(b)
		ev[i].Hash, _ = schemas.HashEvent(ev[i])
	}
	return ev
}

func checkpointNumbers(ev []schemas.Event) (hashes map[uint64]string, sigs map[uint64]string, last uint64) {
	hashes, sigs = map[uint64]string{}, map[uint64]string{}
	for _, e := range ev {
		if e.Type != schemas.TypeGatewayCheckpoint {
			continue
		}
		var cp schemas.Checkpoint
		_ = e.Decode(&cp)
		hashes[cp.Number], _ = schemas.CheckpointHash(cp)
		sigs[cp.Number] = cp.Signature
		last = max(last, cp.Number)
	}
	return hashes, sigs, last
}

// TestCoveredCheckpointsAreNotVerified: in an intact run only the newest checkpoint of each batch is
// verified (the others are vouched for by their signed successors' prev), with the same report as when
// every signature is verified.
func TestCoveredCheckpointsAreNotVerified(t *testing.T) {
	w := longRun(t)
	restore := integrity.VerifyAll()
	want, r := checkBatches(t, w, w.b.Events, 0, 0)
	restore()
	if !r.OK || len(r.Runs) != 1 || r.Runs[0].Checkpoints < 40 || !r.Runs[0].Verified {
		t.Fatalf("intact long run: %s", want)
	}
	for _, tc := range []struct {
		batch int
		seed  int64
		max   int64 // verifications allowed
	}{
		{batch: 0, max: 1},
		{batch: 10, max: int64(r.Runs[0].Checkpoints+9) / 10},
		{batch: 0, seed: 7, max: 1}, // the order within a batch does not matter
	} {
		before := integrity.Verifications()
		got, _ := checkBatches(t, w, w.b.Events, tc.batch, tc.seed)
		if n := integrity.Verifications() - before; n > tc.max || n == 0 {
			t.Errorf("batch %d seed %d: %d signatures verified for %d checkpoints, want 1..%d", tc.batch, tc.seed, n, r.Runs[0].Checkpoints, tc.max)
		}
		if got != want {
			t.Errorf("batch %d seed %d: report differs from verifying every signature:\n got %s\nwant %s", tc.batch, tc.seed, got, want)
		}
	}
}

// TestForgedCheckpointFoundWhenCovering: whatever an attacker without the gateway's key changes in the
// checkpoints, the report is the one verifying every signature gives, and names the forged checkpoint.
func TestForgedCheckpointFoundWhenCovering(t *testing.T) {
	w := longRun(t)
	hashes, sigs, last := checkpointNumbers(w.b.Events)
	_, attacker, _ := ed25519.GenerateKey(nil)
	addHead := func(cp *schemas.Checkpoint) {
		cp.Sessions = append(cp.Sessions, schemas.SessionHead{Session: "forged", Seq: 0, Hash: schemas.GenesisPrev})
	}
	cases := []struct {
		name   string
		tamper func(ev []schemas.Event) []schemas.Event
		forged []uint64 // checkpoint numbers a checkpoint_signature finding must name
	}{
		{name: "middle edited", forged: []uint64{20},
			tamper: func(ev []schemas.Event) []schemas.Event { return editCheckpoint(ev, 20, addHead) }},
		{name: "first edited", forged: []uint64{0},
			tamper: func(ev []schemas.Event) []schemas.Event { return editCheckpoint(ev, 0, addHead) }},
		{name: "newest edited", forged: []uint64{last},
			tamper: func(ev []schemas.Event) []schemas.Event { return editCheckpoint(ev, last, addHead) }},
		{name: "edited and successor relinked", forged: []uint64{20, 21},
			tamper: func(ev []schemas.Event) []schemas.Event {
				ev = editCheckpoint(ev, 20, addHead)
				h, _, _ := checkpointNumbers(ev)
				return editCheckpoint(ev, 21, func(cp *schemas.Checkpoint) { cp.Prev = h[20] })
			}},
		{name: "whole tail edited and relinked", forged: []uint64{30, last},
			tamper: func(ev []schemas.Event) []schemas.Event {
				for n := uint64(30); n <= last; n++ {
					h, _, _ := checkpointNumbers(ev)
					ev = editCheckpoint(ev, n, func(cp *schemas.Checkpoint) {
						if n > 30 {
							cp.Prev = h[n-1]
						} else {
							addHead(cp)
						}
					})
				}
				return ev
			}},
		{name: "signature of the successor", forged: []uint64{12},
			tamper: func(ev []schemas.Event) []schemas.Event {
				return editCheckpoint(ev, 12, func(cp *schemas.Checkpoint) { cp.Signature = sigs[13] })
			}},
		{name: "signature zeroed", forged: []uint64{5},
			tamper: func(ev []schemas.Event) []schemas.Event {
				return editCheckpoint(ev, 5, func(cp *schemas.Checkpoint) {
					cp.Signature = base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize))
				})
			}},
		{name: "re-signed with another key under the gateway's key id", forged: []uint64{20, 21},
			tamper: func(ev []schemas.Event) []schemas.Event {
				keyID := schemas.KeyID(w.pub)
				var h20 string
				ev = editCheckpoint(ev, 20, func(cp *schemas.Checkpoint) {
					addHead(cp)
					_ = schemas.SignCheckpoint(cp, attacker)
					cp.KeyID = keyID
					h20, _ = schemas.CheckpointHash(*cp)
				})
				return editCheckpoint(ev, 21, func(cp *schemas.Checkpoint) {
					cp.Prev = h20
					_ = schemas.SignCheckpoint(cp, attacker)
					cp.KeyID = keyID
				})
			}},
		{name: "unlinked but intact", // a prev edited: the chain breaks, checkpoint 9 is verified by itself
			forged: []uint64{10},
			tamper: func(ev []schemas.Event) []schemas.Event {
				return editCheckpoint(ev, 10, func(cp *schemas.Checkpoint) { cp.Prev = hashes[3] })
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := tc.tamper(append([]schemas.Event(nil), w.b.Events...))
			restore := integrity.VerifyAll()
			want, r := checkBatches(t, w, ev, 0, 0)
			restore()
			if r.OK {
				t.Fatalf("forgery not found even verifying every signature: %s", want)
			}
			sigFound := map[string]bool{}
			for _, f := range findings(r, integrity.KindCheckpointSig) {
				sigFound[f.Seq] = true
			}
			for _, n := range tc.forged {
				if !sigFound[fmt.Sprint(n)] {
					t.Fatalf("checkpoint %d forged but no %s finding names it:\n%s", n, integrity.KindCheckpointSig, dump(r))
				}
			}
			for _, mode := range []struct {
				batch int
				seed  int64
			}{{0, 0}, {1, 0}, {7, 0}, {0, 3}, {9, 5}} {
				if got, _ := checkBatches(t, w, ev, mode.batch, mode.seed); got != want {
					t.Errorf("batch %d seed %d: report differs from verifying every signature:\n got %s\nwant %s", mode.batch, mode.seed,
						strings.ReplaceAll(got, ",", ",\n"), strings.ReplaceAll(want, ",", ",\n"))
				}
			}
		})
	}
}
