package verify

import (
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pangate/pangate/reporter/manifest"
)

// writePkg writes a small signed package and returns its manifest hash.
func writePkg(t *testing.T, dir string, key ed25519.PrivateKey, previous string) string {
	t.Helper()
	w, err := manifest.NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"summary.html": "<html>summary</html>",
		"populations/10.2.1.1-cardholder-access.csv": "time,session\n2026-11-01T00:00:00Z,s1\n",
		"integrity.json": `{"ok":true}`,
	}
	for p, c := range files {
		if err := w.Add(p, []byte(c), manifest.File{Description: p, PCI: []string{"10.2.1.1"}}); err != nil {
			t.Fatal(err)
		}
	}
	m := &manifest.Manifest{Kind: manifest.KindPackage, Generator: manifest.Generator{Name: "test", Version: "0"},
		GeneratedAt: "2026-11-27T00:00:00Z", Period: manifest.Period{From: "2026-10-01T00:00:00Z", To: "2026-11-01T00:00:00Z"},
		Previous: previous, Counts: map[string]int64{"events": 3}}
	h, err := w.Finish(m, key)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func keys(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

func TestIntactPackageAndChainVerify(t *testing.T) {
	pub, key := keys(t)
	root := t.TempDir()
	h1 := writePkg(t, filepath.Join(root, "p1"), key, "")
	writePkg(t, filepath.Join(root, "p2"), key, h1)
	r := Package(filepath.Join(root, "p2"), pub, filepath.Join(root, "p1"))
	if !r.OK() {
		t.Fatalf("intact chain failed: %v", r.Err())
	}
	if r.Files != 3 {
		t.Fatalf("checked %d files, want 3", r.Files)
	}
}

// TestTamper covers every package tamper case of the issue; each must fail naming what failed.
func TestTamper(t *testing.T) {
	pub, key := keys(t)
	_, otherKey := keys(t)
	cases := []struct {
		name     string
		tamper   func(t *testing.T, dir, prev string)
		withPrev bool
		kind     string
		path     string
	}{
		{"file edited", func(t *testing.T, dir, _ string) {
			write(t, filepath.Join(dir, "summary.html"), "<html>summary, edited</html>")
		}, false, KindFileHash, "summary.html"},
		{"file removed", func(t *testing.T, dir, _ string) {
			if err := os.Remove(filepath.Join(dir, "integrity.json")); err != nil {
				t.Fatal(err)
			}
		}, false, KindMissingFile, "integrity.json"},
		{"file added", func(t *testing.T, dir, _ string) {
			write(t, filepath.Join(dir, "populations", "extra.csv"), "a,b\n")
		}, false, KindExtraFile, "populations/extra.csv"},
		{"manifest edited", func(t *testing.T, dir, _ string) {
			p := filepath.Join(dir, manifest.FileName)
			b, _ := os.ReadFile(p)
			write(t, p, strings.Replace(string(b), `"events": 3`, `"events": 2`, 1))
		}, false, KindSignature, manifest.SignatureName},
		{"signature from another key", func(t *testing.T, dir, _ string) {
			b, _ := os.ReadFile(filepath.Join(dir, manifest.FileName))
			sig, err := manifest.Sign(b, otherKey)
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, manifest.SignatureName), string(sig))
		}, false, KindSignature, manifest.SignatureName},
		{"signature removed", func(t *testing.T, dir, _ string) {
			os.Remove(filepath.Join(dir, manifest.SignatureName))
		}, false, KindSignature, manifest.SignatureName},
		{"broken chain to previous", func(t *testing.T, dir, prev string) {
			// The previous package is replaced by another, validly signed one: the hash no longer links.
			os.RemoveAll(prev)
			w, err := manifest.NewWriter(prev)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Add("other.txt", []byte("another package"), manifest.File{Description: "x"}); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Finish(&manifest.Manifest{Kind: manifest.KindPackage, Counts: map[string]int64{}}, key); err != nil {
				t.Fatal(err)
			}
		}, true, KindChain, manifest.FileName},
		{"previous package edited", func(t *testing.T, dir, prev string) {
			write(t, filepath.Join(prev, "integrity.json"), `{"ok":false}`)
		}, true, KindPreviousState + "/" + KindFileHash, "integrity.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			prev, dir := filepath.Join(root, "prev"), filepath.Join(root, "pkg")
			h := writePkg(t, prev, key, "")
			writePkg(t, dir, key, h)
			tc.tamper(t, dir, prev)
			p := ""
			if tc.withPrev {
				p = prev
			}
			r := Package(dir, pub, p)
			if r.OK() {
				t.Fatal("tampered package verified")
			}
			if !errors.Is(r.Err(), ErrFailed) {
				t.Fatalf("error %v does not wrap ErrFailed", r.Err())
			}
			found := false
			for _, f := range r.Failures {
				if f.Kind == tc.kind && f.Path == tc.path {
					found = true
				}
			}
			if !found {
				t.Fatalf("want failure %s on %s, got:\n%v", tc.kind, tc.path, r.Err())
			}
		})
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
