// Package verify checks an evidence package offline, with the public key alone: the signature over
// manifest.json, the SHA-256 of every file it lists, that no file is missing or extra, and, when the
// previous package is given, that this package's manifest chains to it. It needs no ClickHouse.
package verify

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/schemas"
)

// Problem kinds, in Failure.Kind. Each names exactly what failed.
const (
	KindSignature     = "signature"    // manifest.sig missing, malformed, wrong key or not matching
	KindManifest      = "manifest"     // manifest.json missing or unreadable
	KindFileHash      = "file_hash"    // a listed file's contents differ from its recorded SHA-256
	KindFileSize      = "file_size"    // a listed file's size differs
	KindMissingFile   = "missing_file" // a listed file is absent
	KindExtraFile     = "extra_file"   // a file is present that the manifest does not list
	KindChain         = "chain"        // previous package hash does not match
	KindPreviousState = "previous"     // the previous package itself does not verify
	KindPinnedKey     = "pinned_key"   // the key is not the one the assessor pinned (fingerprint)
	KindNotRecorded   = "not_recorded" // the audit store has no report.generated for this manifest and key
)

// Pinned checks that pub is the key whose fingerprint (schemas.KeyID, "sha256:…" or the bare hex) the
// assessor obtained out of band (docs/evidence.md "Trust anchor"): a package re-signed with another key
// verifies with that key, so the key itself must be checked.
func (r *Result) Pinned(pub ed25519.PublicKey, fingerprint string) {
	got := schemas.KeyID(pub)
	if strings.TrimPrefix(strings.ToLower(strings.TrimSpace(fingerprint)), "sha256:") != strings.TrimPrefix(got, "sha256:") {
		r.Failures = append(r.Failures, Failure{Kind: KindPinnedKey, Path: manifest.SignatureName,
			Detail: fmt.Sprintf("signed by key %s, but the pinned key is %s: this key is not the reporter's, or the fingerprint was mistyped", got, fingerprint)})
	}
}

// Record is a report.generated event of the audit store.
type Record struct {
	Time, Instance, Location, ManifestHash, KeyID string
}

// Recorded checks that the audit store holds a report.generated event for this package's manifest hash,
// signed with keyID (records of older reporters carry no key id and match any key): a package nobody
// recorded was not made by this deployment's reporter, or its record was deleted.
func (r *Result) Recorded(records []Record, keyID string) {
	for _, rec := range records {
		if rec.ManifestHash == r.ManifestHash && (rec.KeyID == "" || rec.KeyID == keyID) {
			return
		}
	}
	detail := fmt.Sprintf("no report.generated event in the audit store names manifest %s", r.ManifestHash)
	for _, rec := range records {
		if rec.ManifestHash == r.ManifestHash {
			detail = fmt.Sprintf("report.generated of %s at %s names key %s, the package is signed by %s", rec.Location, rec.Time, rec.KeyID, keyID)
		}
	}
	r.Failures = append(r.Failures, Failure{Kind: KindNotRecorded, Path: manifest.FileName, Detail: detail})
}

// ErrFailed is matched by the error Package returns when any check fails.
var ErrFailed = errors.New("verify: evidence package failed verification")

// Failure is one failed check.
type Failure struct {
	Kind   string
	Path   string // file concerned, if any
	Detail string
}

func (f Failure) String() string {
	if f.Path != "" {
		return fmt.Sprintf("%s: %s: %s", f.Kind, f.Path, f.Detail)
	}
	return fmt.Sprintf("%s: %s", f.Kind, f.Detail)
}

// Result is the outcome of verifying one package.
type Result struct {
	Dir          string
	Manifest     *manifest.Manifest // nil when manifest.json could not be read
	ManifestHash string
	Files        int // files checked
	Failures     []Failure
}

// OK reports whether every check passed.
func (r *Result) OK() bool { return len(r.Failures) == 0 }

// Err returns nil when OK, else an error wrapping ErrFailed that lists every failure.
func (r *Result) Err() error {
	if r.OK() {
		return nil
	}
	lines := make([]string, len(r.Failures))
	for i, f := range r.Failures {
		lines[i] = "  " + f.String()
	}
	return fmt.Errorf("%w: %s:\n%s", ErrFailed, r.Dir, strings.Join(lines, "\n"))
}

// Package verifies the package in dir with pub. If previousDir is not empty, the previous package is
// verified too and this package's manifest must name its manifest hash.
func Package(dir string, pub ed25519.PublicKey, previousDir string) *Result {
	r := single(dir, pub)
	if previousDir == "" {
		return r
	}
	pr := single(previousDir, pub)
	for _, f := range pr.Failures {
		f.Detail = "previous package " + previousDir + ": " + f.Detail
		f.Kind = KindPreviousState + "/" + f.Kind
		r.Failures = append(r.Failures, f)
	}
	if r.Manifest != nil && pr.ManifestHash != "" {
		if r.Manifest.Previous != pr.ManifestHash {
			prev := r.Manifest.Previous
			if prev == "" {
				prev = "none (first package of a chain)"
			}
			r.Failures = append(r.Failures, Failure{Kind: KindChain, Path: manifest.FileName,
				Detail: fmt.Sprintf("names previous manifest %s, but %s/%s hashes to %s", prev, previousDir, manifest.FileName, pr.ManifestHash)})
		}
		if pr.Manifest != nil && r.Manifest.Kind != pr.Manifest.Kind {
			r.Failures = append(r.Failures, Failure{Kind: KindChain, Path: manifest.FileName,
				Detail: fmt.Sprintf("kind %q follows a package of kind %q", r.Manifest.Kind, pr.Manifest.Kind)})
		}
	}
	return r
}

func single(dir string, pub ed25519.PublicKey) *Result {
	r := &Result{Dir: dir}
	fail := func(kind, path, format string, args ...any) {
		r.Failures = append(r.Failures, Failure{Kind: kind, Path: path, Detail: fmt.Sprintf(format, args...)})
	}
	mb, err := os.ReadFile(filepath.Join(dir, manifest.FileName))
	if err != nil {
		fail(KindManifest, manifest.FileName, "cannot read: %v", err)
		return r
	}
	r.ManifestHash = manifest.Hash(mb)
	sig, err := os.ReadFile(filepath.Join(dir, manifest.SignatureName))
	if err != nil {
		fail(KindSignature, manifest.SignatureName, "cannot read: %v", err)
	} else if err := manifest.VerifySignature(mb, sig, pub); err != nil {
		fail(KindSignature, manifest.SignatureName, "%v", err)
	}
	m, err := manifest.Parse(mb)
	if err != nil {
		fail(KindManifest, manifest.FileName, "%v", err)
		return r
	}
	r.Manifest = m

	listed := map[string]manifest.File{}
	for _, f := range m.Files {
		if _, dup := listed[f.Path]; dup {
			fail(KindManifest, f.Path, "listed twice")
		}
		listed[f.Path] = f
	}
	present := map[string]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == manifest.FileName || rel == manifest.SignatureName {
			return nil
		}
		present[rel] = true
		if _, ok := listed[rel]; !ok {
			fail(KindExtraFile, rel, "present but not listed in %s", manifest.FileName)
		}
		return nil
	})
	if err != nil {
		fail(KindManifest, "", "walk package directory: %v", err)
	}
	paths := make([]string, 0, len(listed))
	for p := range listed {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := listed[p]
		if !present[p] {
			fail(KindMissingFile, p, "listed in %s but absent", manifest.FileName)
			continue
		}
		sum, size, err := hashFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			fail(KindMissingFile, p, "cannot read: %v", err)
			continue
		}
		r.Files++
		if sum != f.SHA256 {
			fail(KindFileHash, p, "SHA-256 %s, manifest says %s (file edited)", sum, f.SHA256)
		} else if size != f.Size {
			fail(KindFileSize, p, "%d bytes, manifest says %d", size, f.Size)
		}
	}
	sort.SliceStable(r.Failures, func(i, j int) bool { return r.Failures[i].Kind < r.Failures[j].Kind })
	return r
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
