package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes caps a key set document; real ones are a few KiB.
const maxJWKSBytes = 1 << 20

// Refetches triggered by an unknown kid are rationed: a burst of missBurst, then one per missRefill. Anyone
// can send a token with a random kid; without a ration each would make the gateway poll the issuer, which
// could get it rate-limited there. Real issuers publish keys before they sign with them, so a legitimate
// unknown kid is rare.
const (
	missBurst  = 5
	missRefill = 6 * time.Second
)

var (
	errKeysUnavailable = errors.New("issuer key set unavailable")
	errBadSignature    = errors.New("signature does not verify with the issuer's keys")
)

// keySet is an issuer's JWKS as go-oidc's KeySet. Unlike oidc.RemoteKeySet it expires its cache after maxAge,
// so a key the issuer retired stops verifying, and it reports "could not fetch" apart from "did not verify".
// Concurrent refreshes share one request.
type keySet struct {
	url    string
	client *http.Client
	maxAge time.Duration
	now    func() time.Time
	algs   []jose.SignatureAlgorithm

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time // zero: never fetched
	gen     uint64    // bumped on every successful fetch

	fetchMu sync.Mutex // serialises fetches; holders re-check gen to share a result

	missSpent float64   // rationed refetches in use (see missBurst), decaying by one per missRefill
	missAt    time.Time // when missSpent was last updated
}

// allowMiss takes one unknown-kid refetch from the ration, if any is left.
func (k *keySet) allowMiss() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if !k.missAt.IsZero() {
		k.missSpent = max(0, k.missSpent-float64(now.Sub(k.missAt))/float64(missRefill))
	}
	k.missAt = now
	if k.missSpent+1 > missBurst {
		return false
	}
	k.missSpent++
	return true
}

func (k *keySet) cached() ([]jose.JSONWebKey, time.Time, uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys, k.fetched, k.gen
}

// refresh fetches the key set unless another caller fetched it since generation seen.
func (k *keySet) refresh(ctx context.Context, seen uint64) ([]jose.JSONWebKey, error) {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	if keys, _, gen := k.cached(); gen != seen {
		return keys, nil
	}
	keys, err := k.fetch(ctx)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keys, k.fetched = keys, k.now()
	k.gen++
	k.mu.Unlock()
	return keys, nil
}

func (k *keySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", k.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", k.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: key set larger than %d bytes", k.url, maxJWKSBytes)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("GET %s: not a JWK set: %w", k.url, err)
	}
	var keys []jose.JSONWebKey
	for _, r := range raw.Keys {
		var jwk jose.JSONWebKey
		// Skip keys go-jose cannot read (other curves, private keys, encryption keys): one odd key must not
		// make the issuer unusable, as RFC 7517 §5 asks.
		if json.Unmarshal(r, &jwk) != nil || !jwk.Valid() || !jwk.IsPublic() || jwk.Use == "enc" {
			continue
		}
		keys = append(keys, jwk)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("GET %s: no usable signing keys in the key set", k.url)
	}
	return keys, nil
}

// VerifySignature implements oidc.KeySet. Errors wrap errKeysUnavailable or errBadSignature.
func (k *keySet) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSigned(token, k.algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSignature, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: expected exactly one signature", errBadSignature)
	}
	sig := jws.Signatures[0]
	kid := sig.Header.KeyID

	keys, fetched, gen := k.cached()
	refreshed := false
	if fetched.IsZero() || k.now().Sub(fetched) > k.maxAge {
		if keys, err = k.refresh(ctx, gen); err != nil {
			return nil, fmt.Errorf("%w: %v", errKeysUnavailable, err)
		}
		refreshed = true
	}
	payload, matched := verifyWith(jws, keys, kid, sig.Header.Algorithm)
	if payload != nil {
		return payload, nil
	}
	// An unknown kid may be a key the issuer just rotated in: refetch once, as OIDC Core §10.1 recommends.
	// A known kid that does not verify is a forgery; refetching for it would let anyone make us poll.
	if !matched && !refreshed {
		if !k.allowMiss() {
			return nil, fmt.Errorf("%w: key id not in the key set, which was refetched moments ago; try again shortly", errKeysUnavailable)
		}
		_, _, gen = k.cached()
		if keys, err = k.refresh(ctx, gen); err != nil {
			return nil, fmt.Errorf("%w: %v", errKeysUnavailable, err)
		}
		if payload, _ = verifyWith(jws, keys, kid, sig.Header.Algorithm); payload != nil {
			return payload, nil
		}
	}
	return nil, errBadSignature
}

// verifyWith tries the keys with kid (all keys when the token has none) whose algorithm, if stated, is alg.
// matched reports whether any key was a candidate.
func verifyWith(jws *jose.JSONWebSignature, keys []jose.JSONWebKey, kid, alg string) (payload []byte, matched bool) {
	for i := range keys {
		key := &keys[i]
		if kid != "" && key.KeyID != kid {
			continue
		}
		if key.Algorithm != "" && key.Algorithm != alg {
			continue
		}
		matched = true
		if p, err := jws.Verify(key); err == nil {
			return p, true
		}
	}
	return nil, matched
}
