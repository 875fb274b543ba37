package authtest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pangate/pangate/gateway/auth/authtest"
)

func TestSteeringIsLoopbackOnly(t *testing.T) {
	iss, err := authtest.NewIssuer("http://127.0.0.1:1", "ES256")
	if err != nil {
		t.Fatal(err)
	}
	h := iss.Handler()
	for _, path := range []string{"/mint", "/rotate", "/retire"} {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"sub":"x"}`))
		req.RemoteAddr = "192.0.2.7:4242"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Fatalf("POST %s from a remote address: %d, want 403", path, rec.Code)
		}
	}
	// Discovery and JWKS are public, like a real issuer's.
	req := httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil)
	req.RemoteAddr = "192.0.2.7:4242"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var doc struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.Issuer != "http://127.0.0.1:1" || doc.JWKSURI != doc.Issuer+"/jwks" || doc.Algs[0] != "ES256" {
		t.Fatalf("discovery %d %s (%v)", rec.Code, rec.Body, err)
	}
}

func TestRotateRetire(t *testing.T) {
	ti, iss := authtest.StartIssuer(t, "EdDSA")
	first := iss.Keys().Current
	second := ti.Rotate()
	if second == first || len(iss.JWKS().Keys) != 2 {
		t.Fatalf("after rotate: current %s (was %s), %d keys published", second, first, len(iss.JWKS().Keys))
	}
	// The old key still signs on request until it is retired.
	if _, err := ti.Remote.Mint(context.Background(), authtest.MintRequest{KeyID: first}); err != nil {
		t.Fatalf("mint with old kid: %v", err)
	}
	if got := ti.Retire(); len(got) != 1 || got[0] != first {
		t.Fatalf("retired %v, want [%s]", got, first)
	}
	if keys := iss.JWKS().Keys; len(keys) != 1 || keys[0].KeyID != second {
		t.Fatalf("JWKS after retire: %v", keys)
	}
	if _, err := ti.Remote.Mint(context.Background(), authtest.MintRequest{KeyID: first}); err == nil {
		t.Fatalf("minted with a retired kid")
	}
	if _, err := ti.Remote.Mint(context.Background(), authtest.MintRequest{Forge: "bogus"}); err == nil {
		t.Fatalf("unknown forgery accepted")
	}
}
