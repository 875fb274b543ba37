package review

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/verify"
	"github.com/pangate/pangate/schemas"
)

var now = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// dailyPackage writes a signed daily review package into root's store layout and returns its directory.
func dailyPackage(t *testing.T, root string, day string, key ed25519.PrivateKey) string {
	t.Helper()
	dir := filepath.Join(root, "packages", manifest.KindDailyReview, day, "v1")
	w, err := manifest.NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add("review.html", []byte("<html>exceptions of "+day+"</html>"), manifest.File{Description: "review"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Add("exceptions.csv", []byte("time,kind\n"+day+"T10:00:00Z,blocked\n"), manifest.File{Description: "exceptions", Rows: 1}); err != nil {
		t.Fatal(err)
	}
	m := &manifest.Manifest{Kind: manifest.KindDailyReview, Generator: manifest.Generator{Name: "test", Version: "0"}, GeneratedAt: now.Format(time.RFC3339),
		Period: manifest.Period{From: day + "T00:00:00Z", To: day + "T23:59:59Z"}, Counts: map[string]int64{"exceptions": 1}}
	if _, err := w.Finish(m, key); err != nil {
		t.Fatal(err)
	}
	return dir
}

func keyPair(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

func record(t *testing.T, pkg, reviewer, decision, notes string) Record {
	t.Helper()
	p, err := Describe(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return Record{Package: p, Reviewer: reviewer, Decision: decision, Notes: notes}
}

// TestSignOffKeepsPackageVerifying is the regression test of issue 15.7: signing off the daily review
// filled in a block of review.html, a signed file, so the reviewed package no longer verified. A review is
// now its own signed record beside the package: the package verifies before and after, and so does the
// review.
func TestSignOffKeepsPackageVerifying(t *testing.T) {
	repPub, repKey := keyPair(t)
	revPub, revKey := keyPair(t)
	root := t.TempDir()
	pkg := dailyPackage(t, root, "2026-11-01", repKey)
	dir := DefaultDir(pkg, manifest.KindDailyReview)
	if want := filepath.Join(root, "reviews", manifest.KindDailyReview); dir != want {
		t.Fatalf("reviews of %s go to %s, want %s", pkg, dir, want)
	}
	e, err := Append(dir, record(t, pkg, "Rita Reviewer <rita@acme.example>", DecisionFollowedUp, "blocked statement: PAY-12"), revKey, now)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 1 || e.Previous != "" || e.KeyID != schemas.KeyID(revPub) {
		t.Fatalf("first review: %+v", e.Record)
	}
	if r := verify.Package(pkg, repPub, ""); !r.OK() {
		t.Fatalf("the reviewed package no longer verifies: %v", r.Err())
	}
	ch := Verify(dir, map[string]ed25519.PublicKey{schemas.KeyID(revPub): revPub})
	if len(ch.Failures) != 0 {
		t.Fatalf("review chain: %v", ch.Failures)
	}
	mh := manifest.Hash(mustRead(t, filepath.Join(pkg, manifest.FileName)))
	got := ch.ForPackage(mh, schemas.KeyID(repPub))
	if len(got) != 1 || got[0].Reviewer != "Rita Reviewer <rita@acme.example>" || got[0].Decision != DecisionFollowedUp {
		t.Fatalf("reviews of the package: %+v", got)
	}
}

// TestTamperedReviewFails: every change to a recorded review is found.
func TestTamperedReviewFails(t *testing.T) {
	repPub, repKey := keyPair(t)
	revPub, revKey := keyPair(t)
	_, otherKey := keyPair(t)
	trusted := map[string]ed25519.PublicKey{schemas.KeyID(revPub): revPub}
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		kind   string
	}{
		{"decision edited", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "000002.json"), `"followed_up"`, `"no_action"`)
		}, KindSignature},
		{"reviewer edited", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "000001.json"), "Rita", "Eve")
		}, KindSignature},
		{"middle review deleted", func(t *testing.T, dir string) {
			rm(t, filepath.Join(dir, "000002.json"), filepath.Join(dir, "000002.sig"))
		}, KindChain},
		{"review replaced and re-signed by another key", func(t *testing.T, dir string) {
			rm(t, filepath.Join(dir, "000003.json"), filepath.Join(dir, "000003.sig"))
			r := readRecord(t, filepath.Join(dir, "000002.json"))
			r.Decision, r.Notes = DecisionNoAction, ""
			if _, err := Append(dir, r, otherKey, now); err != nil {
				t.Fatal(err)
			}
		}, KindUnknownKey},
		{"first review deleted", func(t *testing.T, dir string) {
			rm(t, filepath.Join(dir, "000001.json"), filepath.Join(dir, "000001.sig"))
		}, KindChain},
		{"signature removed", func(t *testing.T, dir string) {
			rm(t, filepath.Join(dir, "000003.sig"))
		}, KindSignature},
		{"stray file", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "signed-off.txt"), []byte("ok"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, KindStray},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "reviews", manifest.KindDailyReview)
			for i, day := range []string{"2026-11-01", "2026-11-02", "2026-11-03"} {
				pkg := dailyPackage(t, root, day, repKey)
				dec, notes := DecisionFollowedUp, "PAY-1"
				if i == 0 {
					dec, notes = DecisionNoAction, ""
				}
				if _, err := Append(dir, record(t, pkg, "Rita Reviewer", dec, notes), revKey, now); err != nil {
					t.Fatal(err)
				}
			}
			if ch := Verify(dir, trusted); len(ch.Failures) != 0 || len(ch.Entries) != 3 {
				t.Fatalf("before tampering: %d reviews, %v", len(ch.Entries), ch.Failures)
			}
			tc.tamper(t, dir)
			ch := Verify(dir, trusted)
			found := false
			for _, f := range ch.Failures {
				found = found || f.Kind == tc.kind
			}
			if !found {
				t.Fatalf("tampering not found as %s: failures %v", tc.kind, ch.Failures)
			}
			_ = repPub
		})
	}
}

func TestCheckRefusesIncompleteReviews(t *testing.T) {
	p := Package{ManifestHash: strings.Repeat("a", 64)}
	for _, tc := range []struct {
		r    Record
		want string
	}{
		{Record{Package: p, Decision: DecisionNoAction}, "reviewer"},
		{Record{Package: p, Reviewer: "r", Decision: "ok"}, "decision"},
		{Record{Package: p, Reviewer: "r", Decision: DecisionEscalated}, "notes or tickets"},
		{Record{Reviewer: "r", Decision: DecisionNoAction}, "manifest hash"},
	} {
		err := tc.r.Check()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %s", tc.r, err, tc.want)
		}
	}
	if err := (Record{Package: p, Reviewer: "r", Decision: DecisionEscalated, Tickets: []string{"INC-1"}}).Check(); err != nil {
		t.Errorf("complete review refused: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func edit(t *testing.T, p, old, new string) {
	t.Helper()
	b := mustRead(t, p)
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q", p, old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func rm(t *testing.T, ps ...string) {
	t.Helper()
	for _, p := range ps {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
}

func readRecord(t *testing.T, p string) Record {
	t.Helper()
	ch := Verify(filepath.Dir(p), nil)
	for _, e := range ch.Entries {
		if e.Path == p {
			return e.Record
		}
	}
	t.Fatalf("no review %s", p)
	return Record{}
}
