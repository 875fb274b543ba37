package cli

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pangate/pangate/internal/cli"
	"github.com/pangate/pangate/schemas"
)

// Keygen is `approver keygen`: it creates the Ed25519 key the approver signs decisions with (PKCS#8 PEM,
// mode 0600) and the public key the gateways check them with.
func Keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "decision.pem", "private key file to create (PKCS#8 PEM, mode 0600)")
	pub := fs.String("pub", "", "public key file for the gateways (default: OUT with .pub.pem)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *pub == "" {
		*pub = strings.TrimSuffix(*out, ".pem") + ".pub.pem"
	}
	id, err := schemas.WriteKeyPair(*out, *pub)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and %s (key id %s)\n", *out, *pub, id)
	return nil
}
