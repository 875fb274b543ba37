package cli

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/reporter/manifest"
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
	pub, key, err := manifest.GenerateKey()
	if err != nil {
		return err
	}
	kb, err := manifest.EncodePrivateKey(key)
	if err != nil {
		return err
	}
	pb, err := manifest.EncodePublicKey(pub)
	if err != nil {
		return err
	}
	if _, err := os.Stat(*out + ".key"); err == nil {
		return fmt.Errorf("keygen: %s.key exists: refusing to overwrite a signing key", *out)
	}
	if err := os.WriteFile(*out+".key", kb, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".pub", pb, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s.key and %s.pub (key id %s)\n", *out, *out, schemas.KeyID(pub))
	return nil
}
