package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/internal/cli"
)

// Keygen is `gateway keygen`: it creates the Ed25519 key the gateway signs audit checkpoints with (PKCS#8
// PEM, mode 0600) and its public key for the reporter. Its errors read "gateway keygen: …" (main passes
// that name to cli.Exit).
func Keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "checkpoint.pem", "private key file to create (PKCS#8 PEM, mode 0600)")
	pub := fs.String("pub", "", "public key file (default: OUT with .pub.pem)")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if *pub == "" {
		*pub = strings.TrimSuffix(*out, ".pem") + ".pub.pem"
	}
	id, err := audit.WriteKey(*out, *pub)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s (key id %s)\n", *out, *pub, id)
	return nil
}
