package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/review"
)

// Review is `reporter review`: it records the log review of a package (PCI DSS 10.4.1) as a signed review
// chained to the previous one, beside the package: the package itself, signed, is never edited
// (reporter/review, docs/evidence.md "Daily review sign-off").
//
//	reporter review -package DIR -key REVIEWER.key -reviewer "Name <email>" -decision no_action|followed_up|escalated [-notes TEXT] [-ticket ID]… [-role ROLE] [-reviews DIR]
func Review(args []string, stdout io.Writer) error {
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
	if _, err := cli.ParseInterleaved(fs, args); err != nil {
		return err
	}
	if *pkg == "" || *keyPath == "" {
		return cli.Usage(errors.New("review: usage: reporter review -package DIR -key REVIEWER.key -reviewer \"Name <email>\" -decision " + strings.Join(review.Decisions, "|") + " [-notes TEXT] [-ticket ID]"))
	}
	key, err := manifest.LoadPrivateKey(*keyPath)
	if err != nil {
		return cli.Usage(err)
	}
	p, err := review.Describe(*pkg)
	if err != nil {
		return cli.Usage(err)
	}
	if *dir == "" {
		*dir = review.DefaultDir(*pkg, p.Kind)
	}
	rec := review.Record{Package: p, Reviewer: *reviewer, Role: *role, Decision: *decision, Notes: *notes, Tickets: tickets}
	if err := rec.Check(); err != nil {
		return cli.Usage(err)
	}
	e, err := review.Append(*dir, rec, key, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "review %d of %s recorded: %s\nsigned by key %s, chained to %s\npackage manifest sha256: %s\n",
		e.Seq, p.Location, e.Path, e.KeyID, orFirst(e.Previous), p.ManifestHash)
	return nil
}

func orFirst(h string) string {
	if h == "" {
		return "nothing (first review of this directory)"
	}
	return "review " + h
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
