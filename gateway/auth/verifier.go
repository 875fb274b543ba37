package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/pangate/pangate/schemas"
)

// Claims is what a verified token says, as the gateway needs it.
type Claims struct {
	Identity schemas.Identity
	// Expiry is the token's exp: the gateway caps the JIT role's VALID UNTIL (and the session) with it.
	Expiry time.Time
	// IssuedAt is the token's iat, zero if absent.
	IssuedAt time.Time
	// ID is the token's jti, empty if absent (schemas.AuthSucceeded.TokenID).
	ID string
	// Audience is the configured audience the token matched.
	Audience string
}

// Verifier checks tokens against the configured issuers. It is safe for concurrent use.
type Verifier struct {
	cfg     Config
	client  *http.Client
	issuers map[string]*issuer
	order   []*issuer
}

// issuer is one configured issuer and, once discovered, its go-oidc verifier and key set.
type issuer struct {
	cfg  IssuerConfig
	algs []string

	mu       sync.Mutex // held during discovery, so concurrent logins share one attempt
	verifier *oidc.IDTokenVerifier
	keys     *keySet
}

// New returns a Verifier. It tries each issuer's discovery once (bounded by ctx and HTTPTimeout) but does not
// fail when an issuer is down: discovery is retried on the next login for that issuer.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	v := &Verifier{
		cfg:     cfg,
		client:  &http.Client{Timeout: cfg.HTTPTimeout},
		issuers: map[string]*issuer{},
	}
	for _, ic := range cfg.Issuers {
		algs := ic.Algorithms
		if len(algs) == 0 {
			algs = DefaultAlgorithms
		}
		is := &issuer{cfg: ic, algs: slices.Clone(algs)}
		v.issuers[ic.URL] = is
		v.order = append(v.order, is)
	}
	var wg sync.WaitGroup
	for _, is := range v.order {
		wg.Go(func() { _, _, _ = v.discover(ctx, is) })
	}
	wg.Wait()
	return v, nil
}

// discover returns the issuer's verifier, running discovery first if it has not succeeded yet.
func (v *Verifier) discover(ctx context.Context, is *issuer) (*oidc.IDTokenVerifier, *keySet, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.verifier != nil {
		return is.verifier, is.keys, nil
	}
	dctx, cancel := context.WithTimeout(ctx, v.cfg.HTTPTimeout)
	defer cancel()
	p, err := oidc.NewProvider(oidc.ClientContext(dctx, v.client), is.cfg.URL)
	if err != nil {
		return nil, nil, err
	}
	var meta struct {
		JWKSURL string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURL == "" {
		return nil, nil, fmt.Errorf("discovery document of %s has no jwks_uri", is.cfg.URL)
	}
	algs := make([]jose.SignatureAlgorithm, len(is.algs))
	for i, a := range is.algs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	ks := &keySet{url: meta.JWKSURL, client: v.client, maxAge: v.cfg.JWKSMaxAge, now: v.cfg.Now, algs: algs}
	is.keys = ks
	is.verifier = oidc.NewVerifier(is.cfg.URL, ks, &oidc.Config{
		// Audience, expiry and not-before are checked by VerifyToken: several audiences and a configured
		// clock skew are needed, which go-oidc does not offer.
		SkipClientIDCheck:    true,
		SkipExpiryCheck:      true,
		SupportedSigningAlgs: is.algs,
	})
	return is.verifier, is.keys, nil
}

// Verify checks token and returns the identity it proves. Any refusal is an *Error.
func (v *Verifier) Verify(ctx context.Context, token string) (schemas.Identity, error) {
	c, err := v.VerifyToken(ctx, token)
	return c.Identity, err
}

// VerifyToken is Verify that also returns the token's expiry, issue time, jti and matched audience.
// Any refusal is an *Error.
func (v *Verifier) VerifyToken(ctx context.Context, token string) (Claims, error) {
	c, e := v.verify(ctx, token)
	if e != nil {
		return Claims{}, e
	}
	return c, nil
}

func (v *Verifier) verify(ctx context.Context, token string) (Claims, *Error) {
	u, e := parseUnverified(token)
	if e != nil {
		return Claims{}, e
	}
	fail := func(reason, sqlstate, msg string, cause error) (Claims, *Error) {
		return Claims{}, &Error{Reason: reason, Message: msg, SQLState: sqlstate,
			Issuer: printable(u.issuer), Subject: printable(u.subject), err: cause}
	}
	if forbiddenAlg(u.header.Alg) {
		return fail(ReasonBadAlgorithm, SQLStateInvalidPassword,
			fmt.Sprintf("token algorithm %q is never accepted: tokens must be signed by the issuer's public-key algorithm", printable(u.header.Alg)), nil)
	}
	if len(u.header.Crit) > 0 {
		return fail(ReasonMalformed, SQLStateInvalidPassword, "token header lists critical extensions (crit), which this gateway does not support", nil)
	}
	if u.issuer == "" {
		return fail(ReasonMalformed, SQLStateInvalidPassword, "token has no issuer (iss) claim", nil)
	}
	is, ok := v.issuers[u.issuer]
	if !ok {
		return fail(ReasonUnknownIssuer, SQLStateInvalidPassword,
			fmt.Sprintf("token issuer %q is not trusted by this gateway", printable(u.issuer)), nil)
	}
	if !slices.Contains(is.algs, u.header.Alg) {
		return fail(ReasonBadAlgorithm, SQLStateInvalidPassword,
			fmt.Sprintf("token algorithm %q is not accepted for issuer %s (accepted: %s)", printable(u.header.Alg), is.cfg.URL, strings.Join(is.algs, ", ")), nil)
	}
	if !u.signed {
		return fail(ReasonMalformed, SQLStateInvalidPassword, "token has no signature", nil)
	}

	verifier, _, err := v.discover(ctx, is)
	if err != nil {
		return fail(ReasonIssuerUnavailable, SQLStateInvalidAuthorization,
			fmt.Sprintf("issuer %s cannot be reached to check the token; try again later", is.cfg.URL), err)
	}
	idt, err := verifier.Verify(ctx, token)
	switch {
	case err == nil:
	case errors.Is(ctx.Err(), context.Canceled) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fail(ReasonIssuerUnavailable, SQLStateInvalidAuthorization, "token check was interrupted; try again", ctx.Err())
	case strings.Contains(err.Error(), errKeysUnavailable.Error()):
		// go-oidc flattens the KeySet's error with %v, so errors.Is cannot see it: match its text.
		return fail(ReasonIssuerUnavailable, SQLStateInvalidAuthorization,
			fmt.Sprintf("the key set of issuer %s cannot be fetched to check the token; try again later", is.cfg.URL), err)
	case strings.Contains(err.Error(), errBadSignature.Error()):
		return fail(ReasonBadSignature, SQLStateInvalidPassword,
			fmt.Sprintf("token signature does not verify with the keys of issuer %s", is.cfg.URL), nil)
	default:
		return fail(ReasonMalformed, SQLStateInvalidPassword, "token claims are malformed (iss, sub, aud, exp, iat and nbf must have their standard types)", nil)
	}

	now := v.cfg.Now()
	skew := v.cfg.ClockSkew
	if idt.Expiry.IsZero() {
		return fail(ReasonMalformed, SQLStateInvalidPassword, "token has no expiry (exp) claim: tokens without one are not accepted", nil)
	}
	if now.After(idt.Expiry.Add(skew)) {
		return fail(ReasonExpired, SQLStateInvalidPassword,
			fmt.Sprintf("token expired at %s: get a fresh token", idt.Expiry.UTC().Format(time.RFC3339)), nil)
	}
	if nbf, ok := numericDate(u.claims["nbf"]); ok && now.Add(skew).Before(nbf) {
		return fail(ReasonNotYetValid, SQLStateInvalidPassword,
			fmt.Sprintf("token is not valid before %s (check the clocks of the issuer and this gateway)", nbf.UTC().Format(time.RFC3339)), nil)
	}
	if !idt.IssuedAt.IsZero() && now.Add(skew).Before(idt.IssuedAt) {
		return fail(ReasonNotYetValid, SQLStateInvalidPassword,
			fmt.Sprintf("token is issued in the future (%s); check the clocks of the issuer and this gateway", idt.IssuedAt.UTC().Format(time.RFC3339)), nil)
	}
	aud := ""
	for _, a := range idt.Audience {
		if slices.Contains(is.cfg.Audiences, a) {
			aud = a
			break
		}
	}
	if aud == "" {
		return fail(ReasonWrongAudience, SQLStateInvalidPassword,
			fmt.Sprintf("token audience is not one this gateway accepts from %s (expected one of: %s)", is.cfg.URL, strings.Join(is.cfg.Audiences, ", ")), nil)
	}
	if idt.Subject == "" {
		return fail(ReasonMalformed, SQLStateInvalidPassword, "token has no subject (sub) claim", nil)
	}

	id := schemas.Identity{Issuer: idt.Issuer, Subject: idt.Subject}
	for _, name := range v.cfg.ClaimsKept {
		if s, ok := claimString(u.claims[name]); ok {
			if id.Claims == nil {
				id.Claims = map[string]string{}
			}
			id.Claims[name] = s
		}
	}
	id.Groups = claimStrings(u.claims[v.cfg.GroupsClaim])
	id.Human = v.isHuman(u.claims)
	jti, _ := u.claims["jti"].(string)
	return Claims{Identity: id, Expiry: idt.Expiry, IssuedAt: idt.IssuedAt, ID: jti, Audience: aud}, nil
}

// isHuman applies Config.HumanClaim.
func (v *Verifier) isHuman(claims map[string]any) bool {
	if v.cfg.HumanClaim == "" {
		return false
	}
	name, want, hasValue := strings.Cut(v.cfg.HumanClaim, "=")
	val, present := claims[name]
	if !present || val == nil {
		return false
	}
	s, _ := claimString(val)
	if hasValue {
		return s == want
	}
	return s != "" && s != "false"
}

// numericDate reads a JWT NumericDate (seconds, possibly fractional).
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, 0).Add(time.Duration(f * float64(time.Second))), true
}

// claimString renders a claim as the string kept in schemas.Identity.Claims, capped at maxClaimBytes.
func claimString(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		s = fmt.Sprint(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", false
		}
		s = string(b)
	}
	if len(s) > maxClaimBytes {
		s = strings.ToValidUTF8(s[:maxClaimBytes], "")
	}
	return s, true
}

// claimStrings reads a groups-like claim: an array of strings, or one string.
func claimStrings(v any) []string {
	switch x := v.(type) {
	case string:
		if x != "" {
			return []string{x}
		}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok && s != "" && len(out) < 256 {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Ready returns nil once every issuer's discovery document and key set have been fetched; otherwise it tries
// them now (bounded by ctx) and returns an error wrapping ErrNotReady that names the issuers still unavailable.
func (v *Verifier) Ready(ctx context.Context) error {
	var bad []string
	for _, is := range v.order {
		_, ks, err := v.discover(ctx, is)
		if err == nil {
			_, fetched, gen := ks.cached()
			if fetched.IsZero() {
				_, err = ks.refresh(ctx, gen)
			}
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s (%v)", is.cfg.URL, err))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrNotReady, strings.Join(bad, "; "))
	}
	return nil
}
