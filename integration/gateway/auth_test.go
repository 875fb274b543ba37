package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pangate/pangate/gateway/auth/authtest"
	"github.com/pangate/pangate/schemas"
)

// TestLoginRefusals drives refused logins through the wire: bad tokens, plaintext, malformed user,
// unknown target. Each gets the right SQLSTATE and a message that says why without the token, and an
// auth.failed event.
func TestLoginRefusals(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	now := time.Now().Unix()
	cases := []struct {
		name, reason, state, msg string
		token                    string
		user, sslmode            string
	}{
		{name: "expired", reason: "expired", state: "28P01", msg: "expired",
			token: g.Issuer.Mint(authtest.MintRequest{Subject: "s", Audience: []string{audience}, IssuedAt: now - 3600, ExpiresAt: now - 1800})},
		{name: "wrong audience", reason: "wrong_audience", state: "28P01", msg: "audience",
			token: g.Issuer.Mint(authtest.MintRequest{Subject: "s", Audience: []string{"someone-else"}})},
		{name: "unknown issuer", reason: "unknown_issuer", state: "28P01", msg: "issuer",
			token: g.Issuer.Mint(authtest.MintRequest{Subject: "s", Audience: []string{audience}, Issuer: "https://evil.example"})},
		{name: "bad signature", reason: "bad_signature", state: "28P01", msg: "signature",
			token: g.Issuer.Mint(authtest.MintRequest{Subject: "s", Audience: []string{audience}, Forge: authtest.ForgeForeignKey})},
		{name: "alg none", reason: "bad_algorithm", state: "28P01", msg: "none",
			token: g.Issuer.Mint(authtest.MintRequest{Subject: "s", Audience: []string{audience}, Forge: authtest.ForgeNone})},
		{name: "plaintext", reason: "plaintext", state: "28000", msg: "requires TLS", token: g.token("s"), sslmode: "disable"},
		{name: "user without target", reason: "malformed", state: "28000", msg: "role@target", token: g.token("s"), user: f.Role},
		{name: "unknown target", reason: "unknown_target", state: "28000", msg: "unknown target", token: g.token("s"), user: f.Role + "@nowhere"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := pgx.ParseConfig(g.dsn(f.Role, "x", "require"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.Password = c.token
			if c.user != "" {
				cfg.User = c.user
			}
			if c.sslmode == "disable" {
				cfg.TLSConfig, cfg.Fallbacks = nil, nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err == nil {
				conn.Close(ctx)
				t.Fatal("login succeeded")
			}
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				t.Fatalf("want a server error, got %v", err)
			}
			if pe.Code != c.state || !strings.Contains(strings.ToLower(pe.Message), strings.ToLower(c.msg)) {
				t.Fatalf("got %s %q, want %s containing %q", pe.Code, pe.Message, c.state, c.msg)
			}
			if strings.Contains(pe.Message, c.token) {
				t.Fatal("the error echoes the token")
			}
		})
	}
	evs := g.events(t, func(evs []schemas.Event) bool {
		n := 0
		for _, e := range evs {
			if e.Type == schemas.TypeAuthFailed {
				n++
			}
		}
		return n >= len(cases)
	})
	reasons := map[string]bool{}
	for _, e := range evs {
		if e.Type != schemas.TypeAuthFailed {
			continue
		}
		var a schemas.AuthFailed
		must(t, e.Decode(&a))
		reasons[a.Reason] = true
		raw := string(e.Data)
		for _, c := range cases {
			if len(c.token) > 20 && strings.Contains(raw, c.token) {
				t.Errorf("auth.failed holds a token: %s", raw)
			}
		}
	}
	for _, c := range cases {
		if !reasons[c.reason] {
			t.Errorf("no auth.failed with reason %q (have %v)", c.reason, reasons)
		}
	}
}
