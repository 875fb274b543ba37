package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/review"
	"github.com/pangate/pangate/reporter/verify"
	"github.com/pangate/pangate/schemas"
)

// Verify is `reporter verify`: it checks a package offline (signature, every file against the manifest,
// optionally the pinned key fingerprint and the link to the previous package), with -config also that
// the audit store holds its report.generated event, and the review chain beside it. It prints the
// reviews and "OK: …" to stdout; any failed check is an error (exit 1) that lists them.
func Verify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	keyPath := fs.String("key", "", "the reporter's public key (PEM)")
	prev := fs.String("previous", "", "the previous package of the chain, to check the link")
	fingerprint := fs.String("fingerprint", "", "the reporter key's fingerprint (sha256:…) obtained out of band: the key must be this one")
	path := fs.String("config", "", "reporter YAML: also check the audit store holds this package's report.generated event")
	rf := addReviewFlags(fs)
	pos, err := cli.ParseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *keyPath == "" || len(pos) != 1 {
		return cli.Usage(errors.New("verify: usage: reporter verify -key PUBLIC.pem [-fingerprint sha256:…] [-config reporter.yaml] PACKAGE_DIR [-previous PREVIOUS_DIR]"))
	}
	pub, err := manifest.LoadPublicKey(*keyPath)
	if err != nil {
		return cli.Usage(err)
	}
	r := verify.Package(pos[0], pub, *prev)
	if *fingerprint != "" {
		r.Pinned(pub, *fingerprint)
	}
	if *path != "" && r.ManifestHash != "" {
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		db, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		rows, err := db.ReportRecords(ctx, r.ManifestHash)
		if err != nil {
			return err
		}
		recs := make([]verify.Record, 0, len(rows))
		for _, row := range rows {
			recs = append(recs, verify.Record{Time: row[0], Instance: row[1], Location: row[2], ManifestHash: row[3], KeyID: row[4]})
		}
		r.Recorded(recs, schemas.KeyID(pub))
	}
	if err := checkReviews(stdout, r, pos[0], pub, rf); err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "OK: %s: signature by key %s, %d files match manifest %s", pos[0], schemas.KeyID(pub), r.Files, r.ManifestHash)
	if *fingerprint != "" {
		fmt.Fprint(stdout, ", key matches the pinned fingerprint")
	}
	if *path != "" {
		fmt.Fprint(stdout, ", recorded in the audit store")
	}
	if *prev != "" {
		fmt.Fprintf(stdout, ", chained to %s", *prev)
	}
	fmt.Fprintln(stdout)
	return nil
}

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
// the reviews of this package to w; a failure is added to r.
func checkReviews(w io.Writer, r *verify.Result, pkgDir string, pub ed25519.PublicKey, rf *reviewFlags) error {
	keys := map[string]ed25519.PublicKey{schemas.KeyID(pub): pub}
	for _, p := range rf.keys {
		k, err := manifest.LoadPublicKey(p)
		if err != nil {
			return cli.Usage(errors.New("verify: -review-key: " + err.Error()))
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
	fmt.Fprintf(w, "reviews: %d of this package in %s (chain of %d reviews checked)", len(mine), dir, len(ch.Entries))
	for _, e := range mine {
		fmt.Fprintf(w, "; review %d by %s at %s: %s", e.Seq, e.Reviewer, e.ReviewedAt, e.Decision)
	}
	fmt.Fprintln(w)
	return nil
}
