package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode"
)

// header is the part of a JOSE header the gateway looks at before any key is involved.
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	Crit json.RawMessage `json:"crit"`
}

// unverified is a token split and decoded, nothing checked but its shape: nothing in it may be trusted.
type unverified struct {
	header  header
	claims  map[string]any // numbers as json.Number
	issuer  string
	subject string
	signed  bool // the signature part is non-empty
}

// parseUnverified splits a compact JWS and decodes its header and payload. It bounds the work done on hostile
// input: a size cap, a strict alphabet, and JSON objects only. Its errors are *Error with Reason malformed
// (the caller adds the unverified issuer/subject when known).
func parseUnverified(token string) (unverified, *Error) {
	var u unverified
	if token == "" {
		return u, malformed("empty password: send an OIDC token (a JWT) as the password")
	}
	if len(token) > MaxTokenBytes {
		return u, malformed("password is longer than a token may be (16 KiB): send an OIDC token (a JWT) as the password")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return u, malformed("password is not a JWT (expected three dot-separated parts): send an OIDC token as the password")
	}
	for i, p := range parts {
		if p == "" && i < 2 {
			return u, malformed("password is not a JWT (empty header or payload)")
		}
		if !isBase64URL(p) {
			return u, malformed("password is not a JWT (a part is not unpadded base64url)")
		}
	}
	u.signed = parts[2] != ""
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return u, malformed("token header is not valid base64url")
	}
	if !isJSONObject(hb) || json.Unmarshal(hb, &u.header) != nil {
		return u, malformed("token header is not a JSON object")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return u, malformed("token payload is not valid base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(pb))
	dec.UseNumber()
	if !isJSONObject(pb) || dec.Decode(&u.claims) != nil || dec.More() {
		return u, malformed("token payload is not a JSON object")
	}
	u.issuer, _ = u.claims["iss"].(string)
	u.subject, _ = u.claims["sub"].(string)
	return u, nil
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}'
}

// forbiddenAlg reports algorithms never accepted whatever the configuration: unsigned tokens and HMAC, whose
// "key" a verifier would have to share (and which the public key must never be mistaken for).
func forbiddenAlg(alg string) bool {
	return alg == "" || strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS")
}

// printable makes an unverified claim safe to put in an event or a message: valid UTF-8, no control
// characters, at most 256 bytes.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
	if len(s) > 256 {
		s = strings.ToValidUTF8(s[:256], "") + "…"
	}
	return s
}

func malformed(msg string) *Error {
	return &Error{Reason: ReasonMalformed, Message: msg, SQLState: SQLStateInvalidPassword}
}
