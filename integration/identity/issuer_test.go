package identity

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/gateway/auth"
	"github.com/pangate/pangate/gateway/auth/authtest"
)

const audience = "pangate-integration"

func reason(err error) string {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return ""
}

// TestVerifierAgainstIssuerProcess discovers the dev issuer as a separate process, like a real one, and steers
// it over HTTP: valid, forged and rotated tokens, then the issuer going away.
func TestVerifierAgainstIssuerProcess(t *testing.T) {
	ti := authtest.StartIssuerProcess(t, "-alg", "ES256")
	ctx := context.Background()
	v, err := auth.New(ctx, auth.Config{Issuers: []auth.IssuerConfig{{URL: ti.URL, Audiences: []string{audience}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	exp := time.Now().Add(5 * time.Minute).Truncate(time.Second)
	tok := ti.Mint(authtest.MintRequest{Subject: "repo:acme/etl", Audience: []string{audience}, ExpiresAt: exp.Unix(),
		Claims: map[string]any{"repository": "acme/etl"}})
	c, err := v.VerifyToken(ctx, tok)
	if err != nil {
		t.Fatalf("VerifyToken: %v", err)
	}
	if c.Identity.Issuer != ti.URL || c.Identity.Subject != "repo:acme/etl" || c.Identity.Claims["repository"] != "acme/etl" || !c.Expiry.Equal(exp) {
		t.Fatalf("claims %+v", c)
	}
	for forge, want := range map[string]string{
		authtest.ForgeNone:           auth.ReasonBadAlgorithm,
		authtest.ForgeHS256PublicKey: auth.ReasonBadAlgorithm,
		authtest.ForgeForeignKey:     auth.ReasonBadSignature,
	} {
		_, err := v.Verify(ctx, ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{audience}, Forge: forge}))
		if reason(err) != want {
			t.Fatalf("forgery %s: %v, want %s", forge, err, want)
		}
	}
	kid := ti.Rotate()
	rotated := ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{audience}})
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("token signed by the rotated-in key %s: %v", kid, err)
	}
	if got := ti.Retire(); len(got) != 1 {
		t.Fatalf("retired %v", got)
	}

	ti.Stop()
	// Known keys stay cached; a kid the gateway has never seen needs the issuer, which is gone.
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("cached key after the issuer stopped: %v", err)
	}
	unknownKid := "AAAA" // a syntactically valid token whose kid is unknown: forces a JWKS fetch
	parts := strings.Split(rotated, ".")
	forged := authtestHeader(t, `{"alg":"ES256","kid":"`+unknownKid+`"}`) + "." + parts[1] + "." + parts[2]
	if _, err := v.Verify(ctx, forged); reason(err) != auth.ReasonIssuerUnavailable {
		t.Fatalf("unknown kid with the issuer down: %v, want %s", err, auth.ReasonIssuerUnavailable)
	}
	if err := v.Ready(ctx); err != nil {
		t.Fatalf("Ready after the first fetch should not need the issuer again: %v", err)
	}
}

// TestIssuerURLFile checks the -url-file flag the demo uses to find the issuer.
func TestIssuerURLFile(t *testing.T) {
	bin := authtest.BuildIssuer(t)
	file := filepath.Join(t.TempDir(), "issuer.url")
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-url-file", file)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("issuer printed nothing")
	}
	printed := sc.Text()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("url file: %v", err)
	}
	if strings.TrimSpace(string(b)) != printed || !strings.HasPrefix(printed, "http://127.0.0.1:") {
		t.Fatalf("url file %q, stdout %q", b, printed)
	}
	v, err := auth.New(context.Background(), auth.Config{Issuers: []auth.IssuerConfig{{URL: printed, Audiences: []string{audience}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}
