package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pangate/pangate/gateway/auth"
	"github.com/pangate/pangate/gateway/auth/authtest"
)

var reasons = map[string]bool{
	auth.ReasonExpired: true, auth.ReasonNotYetValid: true, auth.ReasonWrongAudience: true,
	auth.ReasonUnknownIssuer: true, auth.ReasonBadSignature: true, auth.ReasonBadAlgorithm: true,
	auth.ReasonMalformed: true, auth.ReasonIssuerUnavailable: true,
}

// FuzzVerify feeds hostile passwords to Verify: it must never panic, every refusal must be an *Error with a
// known reason, and no message may echo the token.
func FuzzVerify(f *testing.F) {
	ti, _ := authtest.StartIssuer(f, "")
	v, err := auth.New(context.Background(), auth.Config{Issuers: []auth.IssuerConfig{{URL: ti.URL, Audiences: []string{aud}}}})
	if err != nil {
		f.Fatal(err)
	}
	good := ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}})
	for _, s := range []string{
		good,
		good[:len(good)/2],
		ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}, Forge: authtest.ForgeNone}),
		ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}, Forge: authtest.ForgeHS256PublicKey}),
		ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{"x"}, NoExpiry: true}),
		ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}, Issuer: "https://evil.example"}),
		"", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
		"eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOnt9fQ.AAAA", strings.Repeat("A", 100) + "." + strings.Repeat("B", 100) + ".C",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		_, err := v.Verify(context.Background(), token)
		if err == nil {
			return
		}
		var ae *auth.Error
		if !errors.As(err, &ae) {
			t.Fatalf("error %T is not *auth.Error", err)
		}
		if !reasons[ae.Reason] {
			t.Fatalf("unknown reason %q", ae.Reason)
		}
		if len(token) >= 16 && (strings.Contains(ae.Message, token) || strings.Contains(ae.Error(), token)) {
			t.Fatalf("message echoes the token")
		}
	})
}
