package cli

import (
	"flag"
	"fmt"
	"io"

	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/schemas"
)

// Keygen is `reporter keygen`: it writes an Ed25519 key pair, PREFIX.key (0600) and PREFIX.pub, for the
// reporter's signing key or a reviewer's, and never overwrites an existing private key.
func Keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "reporter", "file prefix: writes PREFIX.key (0600) and PREFIX.pub")
	if _, err := cli.ParseInterleaved(fs, args); err != nil {
		return err
	}
	id, err := schemas.WriteKeyPair(*out+".key", *out+".pub")
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s.key and %s.pub (key id %s)\n", *out, *out, id)
	return nil
}
