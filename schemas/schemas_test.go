package schemas

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixedChain returns a chain with a deterministic clock and ids, for reproducible hashes.
func fixedChain(session string) *Chain {
	c := NewChain(session, Source{Instance: "gw-test", Version: "0.0.0"})
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	n := 0
	c.Now = func() time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	c.NewID = func() string {
		n++
		return fmt.Sprintf("01936a6e-0000-7000-8000-%012d", n)
	}
	return c
}

// sampleSession is a session of every event type, chained.
func sampleSession(t testing.TB, session string) []Event {
	t.Helper()
	c := fixedChain(session)
	var out []Event
	for _, typ := range Types {
		data, err := Example(typ)
		if err != nil {
			t.Fatal(err)
		}
		e, err := c.Next(typ, data)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		out = append(out, e)
	}
	return out
}

func TestEveryTypeHasValidatedExample(t *testing.T) {
	for _, e := range sampleSession(t, "01936a6e-0000-7000-8000-0000000000aa") {
		b, err := Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(b); err != nil {
			t.Errorf("%s example does not validate: %v", e.Type, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	good := sampleSession(t, "s-1")[9] // query.executed
	rec, _ := Marshal(good)
	cases := map[string]func(m map[string]any){
		"unknown type":       func(m map[string]any) { m["type"] = "query.teleported" },
		"missing hash":       func(m map[string]any) { delete(m, "hash") },
		"bad time":           func(m map[string]any) { m["time"] = "yesterday" },
		"negative seq":       func(m map[string]any) { m["seq"] = -1 },
		"extra member":       func(m map[string]any) { m["note"] = "x" },
		"data missing field": func(m map[string]any) { delete(m["data"].(map[string]any), "outcome") },
		"data wrong type":    func(m map[string]any) { m["data"].(map[string]any)["rows"] = "many" },
		"data extra member":  func(m map[string]any) { m["data"].(map[string]any)["pan"] = "4111111111111111" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(rec, &m); err != nil {
				t.Fatal(err)
			}
			mutate(m)
			b, _ := json.Marshal(m)
			if err := Validate(b); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid", err)
			}
		})
	}
	if err := Validate([]byte("{not json")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Validate(garbage) = %v", err)
	}
}

func TestCanonical(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"b":1,"a":[true,false,null]}`, `{"a":[true,false,null],"b":1}`},
		{` { "z" : { "y" : "x" , "a" : -12 } } `, `{"z":{"a":-12,"y":"x"}}`},
		{`"<&>\u2028é"`, "\"<&>\u2028é\""},
		{`"tab\tquote\"back\\ctl\u0001"`, `"tab\tquote\"back\\ctl\u0001"`},
		{`"\u00e9\/"`, `"é/"`},
		{`18446744073709551615`, `18446744073709551615`},
	}
	for _, c := range cases {
		got, err := Canonical([]byte(c.in))
		if err != nil {
			t.Errorf("Canonical(%s): %v", c.in, err)
			continue
		}
		if string(got) != c.want {
			t.Errorf("Canonical(%s) = %s, want %s", c.in, got, c.want)
		}
	}
	for _, bad := range []string{`1.5`, `1e3`, `-0`, `{"a":1} x`, `{`, "\"\xff\""} {
		if _, err := Canonical([]byte(bad)); !errors.Is(err, ErrNotCanonicalizable) {
			t.Errorf("Canonical(%q) = %v, want ErrNotCanonicalizable", bad, err)
		}
	}
}

func TestMarshalIsCanonicalAndRoundTrips(t *testing.T) {
	for _, e := range sampleSession(t, "s-rt") {
		b, err := Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Canonical(b)
		if err != nil || !bytes.Equal(b, c) {
			t.Fatalf("%s: Marshal output is not canonical (%v)", e.Type, err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyEvent(back); err != nil {
			t.Fatalf("%s: parsed event does not verify: %v", e.Type, err)
		}
	}
}

func TestVerifySessionDetectsTampering(t *testing.T) {
	const session = "01936a6e-0000-7000-8000-0000000000bb"
	fresh := func() []Event { return sampleSession(t, session) }
	if err := VerifySession(fresh()); err != nil {
		t.Fatalf("untouched session: %v", err)
	}
	forged := func(base Event, seq uint64, prev string) Event {
		e := base
		e.ID, e.Seq, e.Prev = "01936a6e-0000-7000-8000-999999999999", seq, prev
		e.Hash, _ = HashEvent(e)
		return e
	}
	cases := []struct {
		name    string
		tamper  func([]Event) []Event
		wantPos int
		want    string
	}{
		{"edit data", func(ev []Event) []Event {
			ev[6].Data = json.RawMessage(strings.Replace(string(ev[6].Data), `"statements":12`, `"statements":11`, 1))
			return ev
		}, 6, "event edited"},
		{"edit time", func(ev []Event) []Event { ev[2].Time = "2026-11-27T11:00:00.000000Z"; return ev }, 2, "event edited"},
		{"drop", func(ev []Event) []Event { return append(ev[:5], ev[6:]...) }, 5, "missing"},
		{"drop first", func(ev []Event) []Event { return ev[1:] }, 0, "missing"},
		{"reorder", func(ev []Event) []Event { ev[3], ev[4] = ev[4], ev[3]; return ev }, 3, "missing"},
		{"insert rehashed event", func(ev []Event) []Event {
			ins := forged(ev[6], 7, ev[6].Hash)
			return append(ev[:7], append([]Event{ins}, ev[7:]...)...)
		}, 8, "out of order"},
		{"rewrite seq without rehash", func(ev []Event) []Event { ev[7].Seq = 70; return ev }, 7, "event edited"},
		{"rewrite seq and rehash", func(ev []Event) []Event { ev[7] = forged(ev[7], 8, ev[7].Prev); return ev }, 7, "missing"},
		{"foreign session", func(ev []Event) []Event { ev[1].Session = "other"; return ev }, 1, "belongs to session other"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := VerifySession(c.tamper(fresh()))
			var ce *ChainError
			if !errors.As(err, &ce) || !errors.Is(err, ErrChain) {
				t.Fatalf("VerifySession = %v, want a *ChainError", err)
			}
			if ce.Session != session || ce.Position != c.wantPos {
				t.Errorf("error names session %s position %d, want %s position %d: %v", ce.Session, ce.Position, session, c.wantPos, err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), session) {
				t.Errorf("error %q should say %q and name the session", err, c.want)
			}
		})
	}
}

func TestChainPeekDoesNotAdvance(t *testing.T) {
	c := fixedChain("s-peek")
	e1, _ := c.Peek(TypeSessionEnded, SessionEnded{Reason: "x"})
	if seq, prev := c.Head(); seq != 0 || prev != GenesisPrev {
		t.Fatalf("Peek advanced the chain to %d %s", seq, prev)
	}
	c.Commit(e1)
	e2, _ := c.Next(TypeSessionEnded, SessionEnded{Reason: "y"})
	if e2.Seq != 1 || e2.Prev != e1.Hash {
		t.Fatalf("after Commit: seq %d prev %s", e2.Seq, e2.Prev)
	}
	if _, err := c.Next("no.such.type", nil); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("unknown type: %v", err)
	}
	r := ResumeChain("s-peek", Source{Instance: "gw-test", Version: "0.0.0"}, e2.Seq, e2.Hash)
	e3, _ := r.Next(TypeSessionEnded, SessionEnded{Reason: "z"})
	if err := VerifySession([]Event{e1, e2, e3}); err != nil {
		t.Fatalf("resumed chain: %v", err)
	}
}

func TestCheckpoints(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	_ = otherPub
	var cps []Checkpoint
	prev := GenesisPrev
	for i := 0; i < 4; i++ {
		cp := Checkpoint{Instance: "gw-1", Run: "run-1", Number: uint64(i), Prev: prev,
			From: "2026-11-27T10:00:00.000000Z", To: "2026-11-27T10:01:00.000000Z", IntervalMS: 60000, Sessions: []SessionHead{}}
		if i%2 == 1 {
			cp.Sessions = []SessionHead{{Session: "s", Seq: uint64(i), Hash: GenesisPrev}}
		}
		if err := SignCheckpoint(&cp, priv); err != nil {
			t.Fatal(err)
		}
		prev, _ = CheckpointHash(cp)
		cps = append(cps, cp)
	}
	if err := VerifyCheckpoints(cps, pub); err != nil {
		t.Fatalf("good checkpoints: %v", err)
	}
	edited := append([]Checkpoint(nil), cps...)
	edited[1].Sessions = nil
	if err := VerifyCheckpoints(edited, pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("edited checkpoint: %v", err)
	}
	if err := VerifyCheckpoints(append(append([]Checkpoint(nil), cps[:1]...), cps[2:]...), pub); !errors.Is(err, ErrChain) {
		t.Errorf("deleted checkpoint: %v", err)
	}
	foreign := cps[2]
	if err := SignCheckpoint(&foreign, otherPriv); err != nil {
		t.Fatal(err)
	}
	if err := VerifyCheckpoint(foreign, pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("checkpoint signed by another key: %v", err)
	}
}

// golden is the file other implementations check their canonical encoding and hashes against.
type golden struct {
	Note      string            `json:"note"`
	Canonical []goldenCanonical `json:"canonical"`
	Events    []goldenEvent     `json:"events"`
}

type goldenCanonical struct {
	Input string `json:"input"`
	Want  string `json:"canonical"`
}

type goldenEvent struct {
	Signed string `json:"hashed_bytes"` // canonical encoding without "hash": SHA-256 of this is the hash
	Hash   string `json:"hash"`
	Record string `json:"record"` // the Kafka record value
}

func TestGoldenVectors(t *testing.T) {
	g := golden{Note: "pangate schemas v1: SHA-256(hashed_bytes) = hash; record is the canonical event including hash; events form one chain"}
	for _, in := range []string{`{"b":2,"a":{"d":[1,"x"],"c":null}}`, `"\u0007<\u2028>"`, `[-1,0,18446744073709551615]`} {
		out, err := Canonical([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		g.Canonical = append(g.Canonical, goldenCanonical{Input: in, Want: string(out)})
	}
	for _, e := range sampleSession(t, "01936a6e-0000-7000-8000-00000000c0de") {
		signed, _ := canonicalEvent(e, false)
		rec, _ := Marshal(e)
		g.Events = append(g.Events, goldenEvent{Signed: string(signed), Hash: e.Hash, Record: string(rec)})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(g); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "golden.json")
	if *update {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate with -update)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("hashes or encoding changed: testdata/golden.json no longer matches; a change here breaks every stored chain")
	}
	// And the file verifies on its own, as another implementation would read it.
	var read golden
	if err := json.Unmarshal(want, &read); err != nil {
		t.Fatal(err)
	}
	var events []Event
	for _, ge := range read.Events {
		e, err := Parse([]byte(ge.Record))
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if err := VerifySession(events); err != nil {
		t.Fatal(err)
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,2,{"b":"c"}]`, `"x\u0000"`, `{"a":{"a":{"a":[]}}}`, `-5`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Canonical(b)
		if err != nil {
			return
		}
		// Canonical output is a fixed point and still valid JSON.
		c2, err := Canonical(c)
		if err != nil || !bytes.Equal(c, c2) {
			t.Fatalf("not idempotent: %q -> %q (%v)", c, c2, err)
		}
		if !json.Valid(c) {
			t.Fatalf("invalid JSON out: %q", c)
		}
	})
}

func FuzzValidate(f *testing.F) {
	for _, e := range sampleSession(f, "s-fuzz")[:4] {
		b, _ := Marshal(e)
		f.Add(b)
	}
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if Validate(b) == nil {
			// Anything that validates must parse and hash (or fail cleanly), never panic.
			e, err := Parse(b)
			if err != nil {
				t.Fatalf("validated but does not parse: %v", err)
			}
			_ = VerifyEvent(e)
		}
	})
}
