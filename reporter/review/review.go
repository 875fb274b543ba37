// Package review records the log review of an evidence package (PCI DSS 10.4.1) as its own signed, chained
// artefact beside the package, so signing off never touches a signed file: a review names the package by
// its manifest hash, says who reviewed it, what they decided and why, and is signed (Ed25519) and chained
// to the review before it, like packages are (docs/evidence.md "Daily review sign-off").
//
// Reviews of one kind of package live in one directory, reviews/<kind>/ beside packages/ in the local
// store, as NNNNNN.json (the record) and NNNNNN.sig (the signature over its exact bytes). A review edited,
// re-signed with another key, removed from the middle of the chain or renumbered fails Verify.
package review

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/schemas"
)

// Format identifies the review record layout; Verify refuses any other.
const Format = "pangate-review/1"

// Decisions a reviewer can record.
const (
	DecisionNoAction   = "no_action"   // reviewed: nothing needs follow-up
	DecisionFollowedUp = "followed_up" // reviewed: exceptions followed up (tickets, notes say how)
	DecisionEscalated  = "escalated"   // reviewed: an incident or suspected incident was escalated (PCI DSS 10.4.3, 12.10)
)

// Decisions lists the valid decisions, for flags and messages.
var Decisions = []string{DecisionNoAction, DecisionFollowedUp, DecisionEscalated}

// Package names the reviewed package.
type Package struct {
	Kind         string          `json:"kind"`
	Location     string          `json:"location"`      // where the reviewer found it (informative; the hash is trusted)
	ManifestHash string          `json:"manifest_hash"` // hex SHA-256 of its manifest.json
	KeyID        string          `json:"key_id"`        // the key that signed its manifest
	Period       manifest.Period `json:"period"`
	Exceptions   int64           `json:"exceptions"` // manifest count "exceptions": what the reviewer had to look at
}

// Record is one review.
type Record struct {
	Format     string   `json:"format"`
	Seq        int      `json:"seq"`      // 1, 2, … within the directory
	Previous   string   `json:"previous"` // hex SHA-256 of the previous review's JSON bytes, "" for the first
	Package    Package  `json:"package"`
	Reviewer   string   `json:"reviewer"` // name and e-mail of the person who reviewed
	Role       string   `json:"role,omitempty"`
	Decision   string   `json:"decision"`
	Notes      string   `json:"notes,omitempty"`
	Tickets    []string `json:"tickets,omitempty"`
	ReviewedAt string   `json:"reviewed_at"` // RFC 3339 UTC
	KeyID      string   `json:"key_id"`      // schemas.KeyID of the key that signed this review
}

// Errors.
var (
	// ErrInvalid is returned for a review that lacks what a QSA needs (reviewer, decision, package).
	ErrInvalid = errors.New("review: invalid review")
)

// Check reports what a review lacks before it is signed.
func (r Record) Check() error {
	var miss []string
	if strings.TrimSpace(r.Reviewer) == "" {
		miss = append(miss, "reviewer (name and e-mail of the person who reviewed)")
	}
	ok := false
	for _, d := range Decisions {
		ok = ok || r.Decision == d
	}
	if !ok {
		miss = append(miss, fmt.Sprintf("decision %q (use one of %s)", r.Decision, strings.Join(Decisions, ", ")))
	}
	if r.Decision != DecisionNoAction && r.Notes == "" && len(r.Tickets) == 0 {
		miss = append(miss, "notes or tickets saying how the exceptions were followed up")
	}
	if len(r.Package.ManifestHash) != 64 {
		miss = append(miss, "the package's manifest hash")
	}
	if len(miss) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(miss, "; "))
	}
	return nil
}

// Describe reads the package in dir (its manifest.json and manifest.sig) into the Package a review names.
func Describe(dir string) (Package, error) {
	mb, err := os.ReadFile(filepath.Join(dir, manifest.FileName))
	if err != nil {
		return Package{}, fmt.Errorf("review: package %s: %w (give the directory of a package, which holds %s)", dir, err, manifest.FileName)
	}
	m, err := manifest.Parse(mb)
	if err != nil {
		return Package{}, fmt.Errorf("review: package %s: %w", dir, err)
	}
	abs, _ := filepath.Abs(dir)
	return Package{Kind: m.Kind, Location: abs, ManifestHash: manifest.Hash(mb), KeyID: m.KeyID, Period: m.Period, Exceptions: m.Counts["exceptions"]}, nil
}

// DefaultDir is where the reviews of the package in pkgDir are kept: reviews/<kind>/ beside the packages/
// directory of the local store (<root>/packages/<kind>/<period>/v<N>), else a reviews directory beside the
// package.
func DefaultDir(pkgDir, kind string) string {
	abs, err := filepath.Abs(pkgDir)
	if err != nil {
		abs = pkgDir
	}
	kindDir := filepath.Dir(filepath.Dir(abs))
	if filepath.Base(filepath.Dir(kindDir)) == "packages" && filepath.Base(kindDir) == kind {
		return filepath.Join(filepath.Dir(filepath.Dir(kindDir)), "reviews", kind)
	}
	return filepath.Join(filepath.Dir(abs), "reviews")
}

var nameRE = regexp.MustCompile(`^(\d{6})\.(json|sig)$`)

// Append signs rec with key, chains it to the last review in dir and writes it as the next NNNNNN.json and
// NNNNNN.sig. It refuses to chain onto a directory that does not verify (fix or move it first).
func Append(dir string, rec Record, key ed25519.PrivateKey, now time.Time) (Entry, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Entry{}, fmt.Errorf("review: create %s: %w", dir, err)
	}
	keyID := schemas.KeyID(key.Public().(ed25519.PublicKey))
	// Chain onto the directory as it is; its own signatures are checked by Verify, with the keys the
	// verifier trusts: here only its links and numbering matter.
	ch := Verify(dir, nil)
	for _, f := range ch.Failures {
		if f.Kind != KindSignature && f.Kind != KindUnknownKey {
			return Entry{}, fmt.Errorf("review: %s does not verify, refusing to chain a new review onto it: %s", dir, f)
		}
	}
	rec.Format, rec.KeyID = Format, keyID
	rec.Seq, rec.Previous = 1, ""
	if n := len(ch.Entries); n > 0 {
		rec.Seq, rec.Previous = ch.Entries[n-1].Seq+1, ch.Entries[n-1].Hash
	}
	if rec.ReviewedAt == "" {
		rec.ReviewedAt = now.UTC().Format(time.RFC3339)
	}
	if err := rec.Check(); err != nil {
		return Entry{}, err
	}
	b, err := marshal(rec)
	if err != nil {
		return Entry{}, err
	}
	sig, err := sign(b, key)
	if err != nil {
		return Entry{}, err
	}
	base := filepath.Join(dir, fmt.Sprintf("%06d", rec.Seq))
	// O_EXCL: two reviewers at once cannot both write review N; the second retries and becomes N+1.
	f, err := os.OpenFile(base+".json", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return Entry{}, fmt.Errorf("review: write %s.json: %w (another review was recorded at the same time: run the command again)", base, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return Entry{}, err
	}
	if err := f.Close(); err != nil {
		return Entry{}, err
	}
	if err := os.WriteFile(base+".sig", sig, 0o644); err != nil {
		return Entry{}, err
	}
	return Entry{Record: rec, Path: base + ".json", Hash: manifest.Hash(b)}, nil
}

// Entry is a review as found in its directory.
type Entry struct {
	Record
	Path string
	Hash string // hex SHA-256 of the record's JSON bytes: the next review's Previous
}

// Failure kinds of Verify.
const (
	KindSignature  = "review_signature"   // NNNNNN.sig missing, malformed or not matching its record
	KindUnknownKey = "review_key"         // signed by a key the verifier was not given
	KindFormat     = "review_format"      // not a review record, or its fields contradict its name
	KindChain      = "review_chain"       // previous hash does not name the review before it, or a number is missing
	KindStray      = "review_stray_file"  // a file that is not a review or its signature
	KindNotFound   = "review_not_found"   // no review names the package (reported by ForPackage)
	KindPackage    = "review_package_key" // a review of the package names another key than the package's
)

// Failure is one failed check.
type Failure struct {
	Kind, Path, Detail string
}

func (f Failure) String() string { return fmt.Sprintf("%s: %s: %s", f.Kind, f.Path, f.Detail) }

// Chain is what Verify found in a directory.
type Chain struct {
	Dir      string
	Entries  []Entry
	Failures []Failure
}

// Verify checks every review in dir: each signature with the key its record names, which must be in keys
// (by schemas.KeyID; nil skips the signature check, for Append only), the numbering 1, 2, … without a
// gap, and each Previous naming the hash of the review before it. A missing directory is an empty chain.
func Verify(dir string, keys map[string]ed25519.PublicKey) *Chain {
	c := &Chain{Dir: dir}
	fail := func(kind, path, format string, args ...any) {
		c.Failures = append(c.Failures, Failure{Kind: kind, Path: path, Detail: fmt.Sprintf(format, args...)})
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return c
	}
	if err != nil {
		fail(KindFormat, dir, "cannot list: %v", err)
		return c
	}
	seqs := map[int]bool{}
	var order []int
	for _, e := range ents {
		m := nameRE.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			fail(KindStray, filepath.Join(dir, e.Name()), "not a review record (NNNNNN.json) or its signature (NNNNNN.sig)")
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if !seqs[n] {
			seqs[n] = true
			order = append(order, n)
		}
	}
	sort.Ints(order)
	prev := ""
	want := 1
	for _, n := range order {
		base := filepath.Join(dir, fmt.Sprintf("%06d", n))
		for ; want < n; want++ {
			fail(KindChain, fmt.Sprintf("%s/%06d.json", dir, want), "review %d is missing: the chain goes from %d to %d (a review was deleted)", want, want-1, n)
			prev = "" // unknown: the next link cannot be checked against it
		}
		want = n + 1
		b, err := os.ReadFile(base + ".json")
		if err != nil {
			fail(KindFormat, base+".json", "cannot read: %v (a signature without its review)", err)
			continue
		}
		var r Record
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil || r.Format != Format {
			fail(KindFormat, base+".json", "not a %s record (%v, format %q)", Format, err, r.Format)
			continue
		}
		hash := manifest.Hash(b)
		if r.Seq != n {
			fail(KindFormat, base+".json", "says seq %d but is stored as review %d (renumbered)", r.Seq, n)
		}
		if keys != nil {
			sig, err := os.ReadFile(base + ".sig")
			switch {
			case err != nil:
				fail(KindSignature, base+".sig", "cannot read: %v", err)
			default:
				pub, ok := keys[r.KeyID]
				if !ok {
					fail(KindUnknownKey, base+".json", "signed by key %s, which the verifier was not given: pass the reviewer's public key with -review-key (or this review was signed by someone else)", r.KeyID)
				} else if err := verifySig(b, sig, pub); err != nil {
					fail(KindSignature, base+".sig", "%v", err)
				}
			}
		}
		if n > 1 && prev != "" && r.Previous != prev {
			fail(KindChain, base+".json", "names previous review %s, but review %d hashes to %s (a review was edited or replaced)", orNone(r.Previous), n-1, prev)
		}
		if n == 1 && r.Previous != "" {
			fail(KindChain, base+".json", "is review 1 but names a previous review %s (the reviews before it were deleted)", r.Previous)
		}
		c.Entries = append(c.Entries, Entry{Record: r, Path: base + ".json", Hash: hash})
		prev = hash
	}
	return c
}

// ForPackage returns the reviews of the package with manifestHash, and a failure when a review of it
// names another signing key for the package than keyID (a review of a different, re-signed package).
func (c *Chain) ForPackage(manifestHash, keyID string) []Entry {
	var out []Entry
	for _, e := range c.Entries {
		if e.Package.ManifestHash != manifestHash {
			continue
		}
		if keyID != "" && e.Package.KeyID != "" && e.Package.KeyID != keyID {
			c.Failures = append(c.Failures, Failure{Kind: KindPackage, Path: e.Path,
				Detail: fmt.Sprintf("reviews the package as signed by key %s, the package is signed by %s", e.Package.KeyID, keyID)})
			continue
		}
		out = append(out, e)
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func marshal(r Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("review: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// sign returns the NNNNNN.sig bytes: the manifest.sig layout (algorithm, key id, base64 signature).
func sign(b []byte, key ed25519.PrivateKey) ([]byte, error) {
	s := manifest.Signature{Algorithm: manifest.Algorithm, KeyID: schemas.KeyID(key.Public().(ed25519.PublicKey)),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(key, b))}
	out, err := json.MarshalIndent(s, "", "  ")
	return append(out, '\n'), err
}

func verifySig(b, sig []byte, pub ed25519.PublicKey) error {
	var s manifest.Signature
	if err := json.Unmarshal(sig, &s); err != nil {
		return fmt.Errorf("not a signature (JSON): %v", err)
	}
	if s.Algorithm != manifest.Algorithm {
		return fmt.Errorf("algorithm %q, want %q", s.Algorithm, manifest.Algorithm)
	}
	if want := schemas.KeyID(pub); s.KeyID != want {
		return fmt.Errorf("signature names key %s, the review names %s", s.KeyID, want)
	}
	raw, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return errors.New("malformed signature")
	}
	if !ed25519.Verify(pub, b, raw) {
		return fmt.Errorf("does not match its review under key %s (the review or the signature was changed)", s.KeyID)
	}
	return nil
}
