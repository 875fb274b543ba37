package main

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/review"
	"github.com/pangate/pangate/reporter/verify"
	"github.com/pangate/pangate/schemas"
)

// cmdReview records the log review of a package (PCI DSS 10.4.1) as a signed review chained to the
// previous one, beside the package: the package itself, signed, is never edited (reporter/review,
// docs/evidence.md "Daily review sign-off").
//
//	reporter review -package DIR -key REVIEWER.key -reviewer "Name <email>" -decision no_action|followed_up|escalated [-notes TEXT] [-ticket ID]… [-role ROLE] [-reviews DIR]
func cmdReview(args []string) error {
	fs := flag.NewFlagSet("review", flag.ContinueOnError)
	pkg := fs.String("package", "", "the package directory reviewed (as written by generate)")
	keyPath := fs.String("key", "", "the reviewer's private key (PEM; create one with `reporter keygen -out NAME`)")
	reviewer := fs.String("reviewer", "", "name and e-mail of the person who reviewed")
	role := fs.String("role", "", "the reviewer's role (optional)")
	decision := fs.String("decision", "", "one of "+strings.Join(review.Decisions, ", "))
	notes := fs.String("notes", "", "how the exceptions were followed up (required unless -decision "+review.DecisionNoAction+")")
	var tickets multiFlag
	fs.Var(&tickets, "ticket", "a ticket or incident reference (repeatable)")
	dir := fs.String("reviews", "", "the review directory (default: reviews/<kind>/ beside the store's packages/)")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *pkg == "" || *keyPath == "" {
		return usageError{"review: usage: reporter review -package DIR -key REVIEWER.key -reviewer \"Name <email>\" -decision " + strings.Join(review.Decisions, "|") + " [-notes TEXT] [-ticket ID]"}
	}
	key, err := manifest.LoadPrivateKey(*keyPath)
	if err != nil {
		return usageError{err.Error()}
	}
	p, err := review.Describe(*pkg)
	if err != nil {
		return usageError{err.Error()}
	}
	if *dir == "" {
		*dir = review.DefaultDir(*pkg, p.Kind)
	}
	rec := review.Record{Package: p, Reviewer: *reviewer, Role: *role, Decision: *decision, Notes: *notes, Tickets: tickets}
	if err := rec.Check(); err != nil {
		return usageError{err.Error()}
	}
	e, err := review.Append(*dir, rec, key, time.Now())
	if err != nil {
		return err
	}
	fmt.Printf("review %d of %s recorded: %s\nsigned by key %s, chained to %s\npackage manifest sha256: %s\n",
		e.Seq, p.Location, e.Path, e.KeyID, orFirst(e.Previous), p.ManifestHash)
	return nil
}

func orFirst(h string) string {
	if h == "" {
		return "nothing (first review of this directory)"
	}
	return "review " + h
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// reviewFlags are verify's flags for the reviews beside a package.
type reviewFlags struct {
	dir     *string
	keys    multiFlag
	require *bool
}

func addReviewFlags(fs *flag.FlagSet) *reviewFlags {
	rf := &reviewFlags{
		dir:     fs.String("reviews", "", "review directory to verify (default: reviews/<kind>/ beside the store's packages/)"),
		require: fs.Bool("require-review", false, "fail when no review names this package"),
	}
	fs.Var(&rf.keys, "review-key", "a reviewer's public key (PEM, repeatable); reviews signed with the package's key verify without it")
	return rf
}

// checkReviews verifies the review chain beside the package (every signature, number and link) and prints
// the reviews of this package; a failure is added to r.
func checkReviews(r *verify.Result, pkgDir string, pub ed25519.PublicKey, rf *reviewFlags) error {
	keys := map[string]ed25519.PublicKey{schemas.KeyID(pub): pub}
	for _, p := range rf.keys {
		k, err := manifest.LoadPublicKey(p)
		if err != nil {
			return usageError{"verify: -review-key: " + err.Error()}
		}
		keys[schemas.KeyID(k)] = k
	}
	dir := *rf.dir
	if dir == "" {
		if r.Manifest == nil {
			return nil
		}
		dir = review.DefaultDir(pkgDir, r.Manifest.Kind)
	}
	ch := review.Verify(dir, keys)
	mine := ch.ForPackage(r.ManifestHash, schemas.KeyID(pub))
	for _, f := range ch.Failures {
		r.Failures = append(r.Failures, verify.Failure{Kind: f.Kind, Path: f.Path, Detail: f.Detail})
	}
	if len(mine) == 0 && *rf.require {
		r.Failures = append(r.Failures, verify.Failure{Kind: review.KindNotFound, Path: dir,
			Detail: fmt.Sprintf("no review names manifest %s: record one with `reporter review -package %s …`", r.ManifestHash, pkgDir)})
	}
	fmt.Printf("reviews: %d of this package in %s (chain of %d reviews checked)", len(mine), dir, len(ch.Entries))
	for _, e := range mine {
		fmt.Printf("; review %d by %s at %s: %s", e.Seq, e.Reviewer, e.ReviewedAt, e.Decision)
	}
	fmt.Println()
	return nil
}
