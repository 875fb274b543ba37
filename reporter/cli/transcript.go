package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/reporter/build"
)

// Transcript is `reporter transcript`: one session's statements and outcomes from the audit store,
// printed to stdout as text or, with -json, as JSON.
func Transcript(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("transcript", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration")
	session := fs.String("session", "", "session id")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if _, err := cli.ParseInterleaved(fs, args); err != nil {
		return err
	}
	if *session == "" {
		return cli.Usage(errors.New("transcript: -session is required"))
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	tr, err := build.Transcript(ctx, db, *session)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := tr.JSON()
		if err != nil {
			return err
		}
		_, err = stdout.Write(b)
		return err
	}
	fmt.Fprint(stdout, tr.Text())
	return nil
}
