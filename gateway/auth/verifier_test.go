package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangate/pangate/gateway/auth"
	"github.com/pangate/pangate/gateway/auth/authtest"
)

// clock is a settable time source shared by the issuer and the verifier.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const aud = "pangate-test"

type fixture struct {
	ti  *authtest.TestIssuer
	iss *authtest.Issuer
	clk *clock
	v   *auth.Verifier
}

func newFixture(t *testing.T, alg string, mod func(*auth.Config)) *fixture {
	t.Helper()
	ti, iss := authtest.StartIssuer(t, alg)
	clk := &clock{now: time.Now().Truncate(time.Second)}
	iss.SetNow(clk.Now)
	cfg := auth.Config{
		Issuers:    []auth.IssuerConfig{{URL: ti.URL, Audiences: []string{"other", aud}}},
		HumanClaim: "actor_type=user",
		Now:        clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	v, err := auth.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	return &fixture{ti: ti, iss: iss, clk: clk, v: v}
}

// refused asserts that token is refused with reason, the right SQLSTATE, and a message without the token.
func refused(t *testing.T, v *auth.Verifier, token, reason string) *auth.Error {
	t.Helper()
	id, err := v.Verify(context.Background(), token)
	if err == nil {
		t.Fatalf("token accepted as %+v, want refusal %q", id, reason)
	}
	var ae *auth.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %T %v is not *auth.Error", err, err)
	}
	if ae.Reason != reason {
		t.Fatalf("reason %q (%s), want %q", ae.Reason, ae.Message, reason)
	}
	wantState := auth.SQLStateInvalidPassword
	if reason == auth.ReasonIssuerUnavailable {
		wantState = auth.SQLStateInvalidAuthorization
	}
	if ae.SQLState != wantState {
		t.Fatalf("sqlstate %q, want %q", ae.SQLState, wantState)
	}
	if ae.Message == "" {
		t.Fatalf("empty message")
	}
	noToken(t, token, ae.Message, ae.Error(), ae.Issuer, ae.Subject)
	return ae
}

// noToken fails if any of texts contains the token or any of its three parts (the signature especially).
func noToken(t *testing.T, token string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if len(token) >= 8 && strings.Contains(s, token) {
			t.Fatalf("text echoes the token: %q", s)
		}
		for _, part := range strings.Split(token, ".") {
			if len(part) >= 16 && strings.Contains(s, part) {
				t.Fatalf("text echoes part of the token: %q", s)
			}
		}
	}
}

func TestValidTokenAccepted(t *testing.T) {
	f := newFixture(t, "", nil)
	exp := f.clk.Now().Add(10 * time.Minute)
	tok := f.ti.Mint(authtest.MintRequest{
		Subject: "repo:acme/etl:ref:refs/heads/main", Audience: []string{aud}, ExpiresAt: exp.Unix(), ID: "jti-1",
		Claims: map[string]any{
			"repository": "acme/etl", "workflow": "nightly", "run_number": 7, "groups": []string{"etl", "readers"},
			"actor_type": "user", "email": "ops@example.com", "secret_thing": "not kept",
		},
	})
	c, err := f.v.VerifyToken(context.Background(), tok)
	if err != nil {
		t.Fatalf("VerifyToken: %v", err)
	}
	id := c.Identity
	if id.Issuer != f.ti.URL || id.Subject != "repo:acme/etl:ref:refs/heads/main" {
		t.Fatalf("identity %+v", id)
	}
	if id.Claims["repository"] != "acme/etl" || id.Claims["workflow"] != "nightly" || id.Claims["email"] != "ops@example.com" {
		t.Fatalf("kept claims %v", id.Claims)
	}
	if _, ok := id.Claims["secret_thing"]; ok {
		t.Fatalf("claim not in claims_kept was copied: %v", id.Claims)
	}
	if len(id.Groups) != 2 || id.Groups[0] != "etl" || id.Groups[1] != "readers" {
		t.Fatalf("groups %v", id.Groups)
	}
	if !id.Human {
		t.Fatalf("actor_type=user not marked human")
	}
	if !c.Expiry.Equal(exp) || c.ID != "jti-1" || c.Audience != aud || c.IssuedAt.IsZero() {
		t.Fatalf("claims %+v, want expiry %s jti-1 %s", c, exp, aud)
	}

	// A second, different workload: not human, audience given as an array.
	tok = f.ti.Mint(authtest.MintRequest{Subject: "svc", Audience: []string{"nope", aud}, Claims: map[string]any{"actor_type": "bot"}})
	id2, err := f.v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if id2.Human || id2.Subject != "svc" || len(id2.Claims) != 0 {
		t.Fatalf("identity %+v", id2)
	}
	if err := f.v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}

func TestAlgorithms(t *testing.T) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg, nil)
			if _, err := f.v.Verify(context.Background(), f.ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}})); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
	t.Run("not allowed for issuer", func(t *testing.T) {
		f := newFixture(t, "ES256", func(c *auth.Config) { c.Issuers[0].Algorithms = []string{"RS256"} })
		refused(t, f.v, f.ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}}), auth.ReasonBadAlgorithm)
	})
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, "", nil)
	now := f.clk.Now()
	cases := []struct {
		name   string
		req    authtest.MintRequest
		reason string
	}{
		{"expired", authtest.MintRequest{ExpiresAt: now.Add(-time.Hour).Unix(), IssuedAt: now.Add(-2 * time.Hour).Unix()}, auth.ReasonExpired},
		{"expired beyond skew", authtest.MintRequest{ExpiresAt: now.Add(-31 * time.Second).Unix()}, auth.ReasonExpired},
		{"not yet valid", authtest.MintRequest{NotBefore: now.Add(time.Hour).Unix()}, auth.ReasonNotYetValid},
		{"issued in the future", authtest.MintRequest{IssuedAt: now.Add(time.Hour).Unix(), TTLSeconds: 7200}, auth.ReasonNotYetValid},
		{"wrong audience", authtest.MintRequest{Audience: []string{"someone-else"}}, auth.ReasonWrongAudience},
		{"no audience", authtest.MintRequest{Audience: []string{}}, auth.ReasonWrongAudience},
		{"unknown issuer", authtest.MintRequest{Issuer: "https://issuer.evil.example"}, auth.ReasonUnknownIssuer},
		{"issuer with trailing slash", authtest.MintRequest{Issuer: f.ti.URL + "/"}, auth.ReasonUnknownIssuer},
		{"foreign key same kid", authtest.MintRequest{Forge: authtest.ForgeForeignKey}, auth.ReasonBadSignature},
		{"alg none", authtest.MintRequest{Forge: authtest.ForgeNone}, auth.ReasonBadAlgorithm},
		{"HS256 keyed with public key", authtest.MintRequest{Forge: authtest.ForgeHS256PublicKey}, auth.ReasonBadAlgorithm},
		{"no expiry", authtest.MintRequest{NoExpiry: true}, auth.ReasonMalformed},
		{"no subject", authtest.MintRequest{Subject: "-"}, auth.ReasonMalformed},
		{"exp is a string", authtest.MintRequest{Claims: map[string]any{"exp": "tomorrow"}}, auth.ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			switch req.Subject {
			case "":
				req.Subject = "workload"
			case "-":
				req.Subject = ""
			}
			if req.Audience == nil {
				req.Audience = []string{aud}
			}
			tok := f.ti.Mint(req)
			ae := refused(t, f.v, tok, tc.reason)
			if tc.reason != auth.ReasonUnknownIssuer && ae.Issuer != f.ti.URL {
				t.Fatalf("unverified issuer %q, want %q", ae.Issuer, f.ti.URL)
			}
			if req.Subject != "" && ae.Subject != req.Subject {
				t.Fatalf("unverified subject %q, want %q", ae.Subject, req.Subject)
			}
		})
	}

	t.Run("expired within skew is accepted", func(t *testing.T) {
		tok := f.ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}, ExpiresAt: now.Add(-10 * time.Second).Unix()})
		if _, err := f.v.Verify(context.Background(), tok); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
	t.Run("tampered payload", func(t *testing.T) {
		tok := f.ti.Mint(authtest.MintRequest{Subject: "alice", Audience: []string{aud}})
		parts := strings.Split(tok, ".")
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		p = []byte(strings.Replace(string(p), `"alice"`, `"admin"`, 1))
		parts[1] = base64.RawURLEncoding.EncodeToString(p)
		refused(t, f.v, strings.Join(parts, "."), auth.ReasonBadSignature)
	})
	t.Run("signature stripped", func(t *testing.T) {
		tok := f.ti.Mint(authtest.MintRequest{Subject: "alice", Audience: []string{aud}})
		refused(t, f.v, tok[:strings.LastIndex(tok, ".")+1], auth.ReasonMalformed)
	})
}

func TestMalformed(t *testing.T) {
	f := newFixture(t, "", nil)
	good := f.ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}})
	parts := strings.Split(good, ".")
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	hdr := b64(`{"alg":"RS256","kid":"k"}`)
	cases := map[string]string{
		"empty":              "",
		"not a jwt":          "correct horse battery staple",
		"two parts":          parts[0] + "." + parts[1],
		"four parts":         good + ".x",
		"jwe-like five":      "a.b.c.d.e",
		"bad alphabet":       parts[0] + ".!!!!." + parts[2],
		"padding":            parts[0] + "=." + parts[1] + "." + parts[2],
		"whitespace":         " " + good,
		"header not json":    b64("nope") + "." + parts[1] + "." + parts[2],
		"header array":       b64(`["alg"]`) + "." + parts[1] + "." + parts[2],
		"payload not json":   hdr + "." + b64("{nope") + "." + parts[2],
		"payload array":      hdr + "." + b64(`[1,2]`) + "." + parts[2],
		"payload two values": hdr + "." + b64(`{}{}`) + "." + parts[2],
		"no iss":             hdr + "." + b64(`{"sub":"x"}`) + "." + parts[2],
		"iss not string":     hdr + "." + b64(`{"iss":42}`) + "." + parts[2],
		"crit header":        b64(`{"alg":"RS256","crit":["b64"],"b64":false}`) + "." + parts[1] + "." + parts[2],
		"oversized":          good + strings.Repeat("A", auth.MaxTokenBytes),
		"json serialization": `{"payload":"` + parts[1] + `","signatures":[]}`,
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) { refused(t, f.v, tok, auth.ReasonMalformed) })
	}
	t.Run("missing alg", func(t *testing.T) {
		refused(t, f.v, b64(`{"typ":"JWT"}`)+"."+parts[1]+"."+parts[2], auth.ReasonBadAlgorithm)
	})
	t.Run("unverified claims are sanitised", func(t *testing.T) {
		tok := hdr + "." + b64(`{"iss":"https://x.example/\u0000\u001b[31m","sub":"`+strings.Repeat("s", 1000)+`"}`) + "." + parts[2]
		ae := refused(t, f.v, tok, auth.ReasonUnknownIssuer)
		if strings.ContainsAny(ae.Issuer+ae.Message, "\x00\x1b") || len(ae.Subject) > 260 {
			t.Fatalf("unsanitised: issuer %q subject len %d message %q", ae.Issuer, len(ae.Subject), ae.Message)
		}
	})
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t, "", nil)
	req := authtest.MintRequest{Subject: "s", Audience: []string{aud}, TTLSeconds: 7200}
	old := f.ti.Mint(req)
	if _, err := f.v.Verify(context.Background(), old); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	newKid := f.ti.Rotate()
	fresh := f.ti.Mint(req)
	if !strings.Contains(decodeHeader(t, fresh), newKid) {
		t.Fatalf("token after rotation not signed with new kid %s", newKid)
	}
	// The verifier has only the old key cached: accepting this proves it refetched the JWKS on an unknown kid.
	if _, err := f.v.Verify(context.Background(), fresh); err != nil {
		t.Fatalf("new key after rotation: %v", err)
	}
	if _, err := f.v.Verify(context.Background(), old); err != nil {
		t.Fatalf("old key still published: %v", err)
	}
	if retired := f.ti.Retire(); len(retired) != 1 {
		t.Fatalf("retired %v, want the one old key", retired)
	}
	// Once the cached key set is older than jwks_max_age it is refetched, and the retired key is gone.
	f.clk.Advance(auth.DefaultJWKSMaxAge + time.Second)
	refused(t, f.v, old, auth.ReasonBadSignature)
	if _, err := f.v.Verify(context.Background(), fresh); err != nil {
		t.Fatalf("current key after retire: %v", err)
	}
	// A token naming the retired kid cannot be minted any more; one forged under the current kid is refused.
	refused(t, f.v, f.ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}, Forge: authtest.ForgeForeignKey}), auth.ReasonBadSignature)
}

func decodeHeader(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// flaky serves the issuer, or 503 while down is set.
type flaky struct {
	down atomic.Bool
	h    http.Handler
	hits atomic.Int64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/jwks" {
		f.hits.Add(1)
	}
	if f.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	f.h.ServeHTTP(w, r)
}

func TestIssuerUnavailable(t *testing.T) {
	fl := &flaky{}
	fl.down.Store(true)
	srv := httptest.NewServer(fl)
	t.Cleanup(srv.Close)
	iss, err := authtest.NewIssuer(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	fl.h = iss.Handler()

	v, err := auth.New(context.Background(), auth.Config{Issuers: []auth.IssuerConfig{{URL: srv.URL, Audiences: []string{aud}}}})
	if err != nil {
		t.Fatalf("New must not fail while the issuer is down: %v", err)
	}
	mint := func(r authtest.MintRequest) string {
		resp, err := iss.Mint(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Token
	}
	tok := mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}})
	refused(t, v, tok, auth.ReasonIssuerUnavailable)
	if err := v.Ready(context.Background()); !errors.Is(err, auth.ErrNotReady) {
		t.Fatalf("Ready while down: %v, want ErrNotReady", err)
	}
	// Issuer-independent checks still answer precisely while it is down.
	refused(t, v, mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}, Forge: authtest.ForgeNone}), auth.ReasonBadAlgorithm)

	fl.down.Store(false) // the issuer comes back: discovery is retried on the next login
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("after the issuer came back: %v", err)
	}
	if err := v.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	// Down again after discovery: cached keys still verify known kids; a new kid needs the JWKS → unavailable.
	fl.down.Store(true)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("cached keys while the issuer is down: %v", err)
	}
	if _, err := iss.Rotate(); err != nil {
		t.Fatal(err)
	}
	refused(t, v, mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}}), auth.ReasonIssuerUnavailable)
}

func TestIssuerUnreachableAtStart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	v, err := auth.New(context.Background(), auth.Config{Issuers: []auth.IssuerConfig{{URL: url, Audiences: []string{aud}}}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	iss, err := authtest.NewIssuer(url, "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := iss.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}})
	if err != nil {
		t.Fatal(err)
	}
	ae := refused(t, v, resp.Token, auth.ReasonIssuerUnavailable)
	if ae.Unwrap() == nil {
		t.Fatalf("issuer_unavailable carries no cause")
	}
}

func TestConcurrentVerify(t *testing.T) {
	f := newFixture(t, "ES256", nil)
	good := f.ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}})
	bad := f.ti.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}, Forge: authtest.ForgeForeignKey})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			tok, wantOK := good, true
			if i%2 == 1 {
				tok, wantOK = bad, false
			}
			_, err := f.v.Verify(context.Background(), tok)
			if (err == nil) != wantOK {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent verify: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := auth.IssuerConfig{URL: "https://token.actions.githubusercontent.com", Audiences: []string{"pangate"}}
	cases := []struct {
		name string
		cfg  auth.Config
		want string // substring of the error; "" = valid
	}{
		{"valid", auth.Config{Issuers: []auth.IssuerConfig{ok}}, ""},
		{"loopback http", auth.Config{Issuers: []auth.IssuerConfig{{URL: "http://127.0.0.1:8080", Audiences: []string{"a"}}}}, ""},
		{"no issuers", auth.Config{}, "no issuers"},
		{"plain http", auth.Config{Issuers: []auth.IssuerConfig{{URL: "http://idp.example.com", Audiences: []string{"a"}}}}, "loopback"},
		{"no audiences", auth.Config{Issuers: []auth.IssuerConfig{{URL: ok.URL}}}, "audiences is empty"},
		{"none alg", auth.Config{Issuers: []auth.IssuerConfig{{URL: ok.URL, Audiences: []string{"a"}, Algorithms: []string{"none"}}}}, "never accepted"},
		{"hs256", auth.Config{Issuers: []auth.IssuerConfig{{URL: ok.URL, Audiences: []string{"a"}, Algorithms: []string{"HS256"}}}}, "never accepted"},
		{"unknown alg", auth.Config{Issuers: []auth.IssuerConfig{{URL: ok.URL, Audiences: []string{"a"}, Algorithms: []string{"RS1"}}}}, "unknown algorithm"},
		{"duplicate", auth.Config{Issuers: []auth.IssuerConfig{ok, ok}}, "listed twice"},
		{"query", auth.Config{Issuers: []auth.IssuerConfig{{URL: ok.URL + "?x=1", Audiences: []string{"a"}}}}, "no query"},
		{"skew", auth.Config{Issuers: []auth.IssuerConfig{ok}, ClockSkew: time.Hour}, "clock_skew"},
		{"human claim", auth.Config{Issuers: []auth.IssuerConfig{ok}, HumanClaim: "=x"}, "human_claim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want error containing %q", err, tc.want)
			}
			if _, err := auth.New(context.Background(), tc.cfg); err == nil {
				t.Fatalf("New accepted an invalid config")
			}
		})
	}
}

// TestUnknownKidRefetchIsRationed: tokens with made-up kids cannot make the gateway poll the issuer's JWKS
// without bound.
func TestUnknownKidRefetchIsRationed(t *testing.T) {
	fl := &flaky{}
	srv := httptest.NewServer(fl)
	t.Cleanup(srv.Close)
	iss, err := authtest.NewIssuer(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	fl.h = iss.Handler()
	clk := &clock{now: time.Now()}
	iss.SetNow(clk.Now)
	v, err := auth.New(context.Background(), auth.Config{Issuers: []auth.IssuerConfig{{URL: srv.URL, Audiences: []string{aud}}}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := iss.Mint(authtest.MintRequest{Subject: "s", Audience: []string{aud}, TTLSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), resp.Token); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(resp.Token, ".")
	withKid := func(kid string) string {
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"`+kid+`"}`)) + "." + parts[1] + "." + parts[2]
	}
	base := fl.hits.Load()
	for i := range 5 {
		refused(t, v, withKid("made-up-"+string(rune('a'+i))), auth.ReasonBadSignature)
	}
	if got := fl.hits.Load() - base; got != 5 {
		t.Fatalf("%d JWKS fetches for 5 unknown kids, want 5", got)
	}
	refused(t, v, withKid("made-up-6"), auth.ReasonIssuerUnavailable)
	if got := fl.hits.Load() - base; got != 5 {
		t.Fatalf("JWKS fetched beyond the ration: %d", got)
	}
	// Known keys keep working meanwhile, and the ration refills with time.
	if _, err := v.Verify(context.Background(), resp.Token); err != nil {
		t.Fatalf("known kid while rationed: %v", err)
	}
	clk.Advance(7 * time.Second)
	refused(t, v, withKid("made-up-7"), auth.ReasonBadSignature)
	if got := fl.hits.Load() - base; got != 6 {
		t.Fatalf("JWKS fetches after refill: %d, want 6", got)
	}
}
