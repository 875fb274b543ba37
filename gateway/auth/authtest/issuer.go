package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Forgeries MintRequest.Forge can ask for. Each yields a token a correct verifier refuses.
const (
	// ForgeNone produces an unsigned token with alg "none".
	ForgeNone = "none"
	// ForgeHS256PublicKey signs with HS256 using the current public key (PEM) as the HMAC secret: the classic
	// algorithm-confusion attack.
	ForgeHS256PublicKey = "hs256_public_key"
	// ForgeForeignKey signs with a freshly generated key under the current key's kid.
	ForgeForeignKey = "foreign_key"
)

// MintRequest says what token to mint. Zero fields get defaults: iss = the issuer URL, iat = now,
// exp = now + TTLSeconds (default 300), kid = the current key.
type MintRequest struct {
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	// Issuer overrides "iss" (e.g. to test an unknown issuer with a valid signature).
	Issuer string `json:"iss,omitempty"`
	// ExpiresAt, NotBefore, IssuedAt are Unix seconds; 0 means default (NotBefore: absent).
	ExpiresAt  int64 `json:"exp,omitempty"`
	NotBefore  int64 `json:"nbf,omitempty"`
	IssuedAt   int64 `json:"iat,omitempty"`
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
	// NoExpiry omits "exp" altogether.
	NoExpiry bool   `json:"no_exp,omitempty"`
	ID       string `json:"jti,omitempty"`
	// KeyID signs with the key of that kid (current or retired-but-kept); default the current key.
	KeyID string `json:"kid,omitempty"`
	// Claims are extra claims (repository, email, groups…); they override the standard ones on conflict.
	Claims map[string]any `json:"claims,omitempty"`
	// Forge asks for a forged token: ForgeNone, ForgeHS256PublicKey or ForgeForeignKey.
	Forge string `json:"forge,omitempty"`
}

// MintResponse is the answer of POST /mint.
type MintResponse struct {
	Token string `json:"token"`
	KeyID string `json:"kid"`
}

// KeysResponse is the answer of POST /rotate, POST /retire and GET /keys.
type KeysResponse struct {
	Current string   `json:"current"`
	Keys    []string `json:"keys"`    // kids published in the JWKS, current first
	Retired []string `json:"retired"` // kids removed by this call (POST /retire)
}

type signingKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

// Issuer is the dev issuer's state: its identifier URL and its keys. Safe for concurrent use.
type Issuer struct {
	url string
	alg jose.SignatureAlgorithm
	now func() time.Time

	mu   sync.Mutex
	keys []signingKey // keys[0] is current; the others stay published until Retire
	n    int
}

// NewIssuer returns an issuer whose identifier is url, signing with alg (RS256, ES256 or EdDSA; default RS256).
func NewIssuer(url, alg string) (*Issuer, error) {
	if url == "" {
		return nil, errors.New("authtest: issuer URL is empty")
	}
	if alg == "" {
		alg = string(jose.RS256)
	}
	i := &Issuer{url: strings.TrimSuffix(url, "/"), alg: jose.SignatureAlgorithm(alg), now: time.Now}
	if _, err := i.Rotate(); err != nil {
		return nil, err
	}
	return i, nil
}

// URL is the issuer identifier ("iss").
func (i *Issuer) URL() string { return i.url }

// SetNow replaces the clock used for default iat/exp (tests with a fake clock).
func (i *Issuer) SetNow(now func() time.Time) {
	i.mu.Lock()
	i.now = now
	i.mu.Unlock()
}

func newKey(alg jose.SignatureAlgorithm, kid string) (signingKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return signingKey{}, fmt.Errorf("authtest: unsupported algorithm %q (use RS256, ES256 or EdDSA)", alg)
	}
	if err != nil {
		return signingKey{}, err
	}
	return signingKey{kid: kid, alg: alg, priv: priv}, nil
}

// Rotate makes a new key current; the previous ones stay in the JWKS until Retire. It returns the new kid.
func (i *Issuer) Rotate() (string, error) {
	i.mu.Lock()
	i.n++
	kid := fmt.Sprintf("key-%d-%s", i.n, randomHex(4))
	i.mu.Unlock()
	k, err := newKey(i.alg, kid)
	if err != nil {
		return "", err
	}
	i.mu.Lock()
	i.keys = append([]signingKey{k}, i.keys...)
	i.mu.Unlock()
	return kid, nil
}

// Retire removes every key but the current one from the JWKS and returns their kids.
func (i *Issuer) Retire() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	var gone []string
	for _, k := range i.keys[1:] {
		gone = append(gone, k.kid)
	}
	i.keys = i.keys[:1]
	return gone
}

// Keys returns the current kid and every published kid, current first.
func (i *Issuer) Keys() KeysResponse {
	i.mu.Lock()
	defer i.mu.Unlock()
	r := KeysResponse{Current: i.keys[0].kid}
	for _, k := range i.keys {
		r.Keys = append(r.Keys, k.kid)
	}
	return r
}

// JWKS returns the published public keys.
func (i *Issuer) JWKS() jose.JSONWebKeySet {
	i.mu.Lock()
	defer i.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range i.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	return set
}

// Mint returns a signed (or, with Forge, forged) JWT.
func (i *Issuer) Mint(req MintRequest) (MintResponse, error) {
	i.mu.Lock()
	now := i.now()
	key := i.keys[0]
	found := req.KeyID == ""
	for _, k := range i.keys {
		if req.KeyID != "" && k.kid == req.KeyID {
			key, found = k, true
		}
	}
	i.mu.Unlock()
	if !found {
		return MintResponse{}, fmt.Errorf("authtest: no key with kid %q (published: %v)", req.KeyID, i.Keys().Keys)
	}

	claims := map[string]any{"iss": i.url, "iat": now.Unix()}
	if req.Issuer != "" {
		claims["iss"] = req.Issuer
	}
	if req.Subject != "" {
		claims["sub"] = req.Subject
	}
	switch len(req.Audience) {
	case 0:
	case 1:
		claims["aud"] = req.Audience[0]
	default:
		claims["aud"] = req.Audience
	}
	if req.IssuedAt != 0 {
		claims["iat"] = req.IssuedAt
	}
	if !req.NoExpiry {
		exp := req.ExpiresAt
		if exp == 0 {
			ttl := req.TTLSeconds
			if ttl == 0 {
				ttl = 300
			}
			exp = now.Add(time.Duration(ttl) * time.Second).Unix()
		}
		claims["exp"] = exp
	}
	if req.NotBefore != 0 {
		claims["nbf"] = req.NotBefore
	}
	if req.ID != "" {
		claims["jti"] = req.ID
	}
	for k, v := range req.Claims {
		claims[k] = v
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return MintResponse{}, fmt.Errorf("authtest: claims: %w", err)
	}

	switch req.Forge {
	case "":
	case ForgeNone:
		return MintResponse{Token: compact(map[string]any{"alg": "none", "typ": "JWT", "kid": key.kid}, payload, nil), KeyID: key.kid}, nil
	case ForgeHS256PublicKey:
		der, err := x509.MarshalPKIXPublicKey(key.priv.Public())
		if err != nil {
			return MintResponse{}, err
		}
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		unsigned := compact(map[string]any{"alg": "HS256", "typ": "JWT", "kid": key.kid}, payload, nil)
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(unsigned))
		return MintResponse{Token: unsigned + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), KeyID: key.kid}, nil
	case ForgeForeignKey:
		foreign, err := newKey(key.alg, key.kid)
		if err != nil {
			return MintResponse{}, err
		}
		key = foreign
	default:
		return MintResponse{}, fmt.Errorf("authtest: unknown forgery %q (use %q, %q or %q)", req.Forge, ForgeNone, ForgeHS256PublicKey, ForgeForeignKey)
	}
	tok, err := sign(key, payload)
	if err != nil {
		return MintResponse{}, err
	}
	return MintResponse{Token: tok, KeyID: key.kid}, nil
}

func sign(k signingKey, payload []byte) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), k.kid)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		return "", fmt.Errorf("authtest: signer: %w", err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("authtest: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// compact builds "header.payload." (+ signature if sig != nil) by hand, for forgeries go-jose refuses to make.
func compact(header map[string]any, payload, sig []byte) string {
	h, _ := json.Marshal(header)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(payload) + "." +
		base64.RawURLEncoding.EncodeToString(sig)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// Handler serves discovery, JWKS and (to loopback clients only) the steering endpoints.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                i.url,
			"jwks_uri":                              i.url + "/jwks",
			"authorization_endpoint":                i.url + "/authorize",
			"token_endpoint":                        i.url + "/token",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{string(i.alg)},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		writeJSON(w, http.StatusOK, i.JWKS())
	})
	mux.HandleFunc("POST /mint", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		var req MintRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "mint request: " + err.Error()})
			return
		}
		resp, err := i.Mint(req)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, resp)
	}))
	mux.HandleFunc("POST /rotate", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		if _, err := i.Rotate(); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, i.Keys())
	}))
	mux.HandleFunc("POST /retire", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		gone := i.Retire()
		resp := i.Keys()
		resp.Retired = gone
		writeJSON(w, http.StatusOK, resp)
	}))
	mux.HandleFunc("GET /keys", loopbackOnly(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, i.Keys())
	}))
	return mux
}

func loopbackOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !ip.IsLoopback() {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "steering endpoints answer loopback clients only"})
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
