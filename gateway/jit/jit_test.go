package jit

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Prefix: "pg_jit_", TTL: time.Minute, ReapInterval: time.Second, Instance: "gw-1"}, ""},
		{Config{Prefix: "Bad-Prefix"}, "jit.prefix"},
		{Config{Prefix: "1abc"}, "jit.prefix"},
		{Config{Prefix: "ab"}, "too short"},
		{Config{Prefix: strings.Repeat("a", 41)}, "jit.prefix"},
		{Config{TTL: time.Millisecond}, "jit.ttl"},
		{Config{TTL: 48 * time.Hour}, "at most 24h"},
		{Config{ReapInterval: -time.Second}, "jit.reap_interval"},
		{Config{LiveGrace: -time.Second}, "jit.live_grace"},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Errorf("New with a nil pool succeeded")
	}
}

func TestCheckGrants(t *testing.T) {
	m := &Manager{cfg: Config{}.withDefaults()}
	got, err := m.checkGrants([]string{"reader", "writer", "reader"})
	if err != nil || fmt.Sprint(got) != "[reader writer]" {
		t.Fatalf("checkGrants = %v, %v", got, err)
	}
	for _, bad := range []string{"", DefaultPrefix + "abc", "PUBLIC", strings.Repeat("r", 64), "a\x00b"} {
		if _, err := m.checkGrants([]string{bad}); !errors.Is(err, ErrBadGrant) {
			t.Errorf("grant %q: %v, want ErrBadGrant", bad, err)
		}
	}
}

func TestCredentialRedaction(t *testing.T) {
	c := Credential{Role: "pangate_jit_x", Password: "s3cr3t-password-value", Granted: []string{"r"}, ValidUntil: time.Now()}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("issued", "cred", c)
	j, _ := json.Marshal(c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v", &c), buf.String(), string(j)} {
		if strings.Contains(s, c.Password) {
			t.Fatalf("password printed: %s", s)
		}
		if !strings.Contains(s, c.Role) {
			t.Fatalf("role missing: %s", s)
		}
	}
}

// TestScramVerifier checks the verifier for RFC 7677's example password and salt ("pencil",
// W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations) against keys computed independently with Python's hashlib
// (pbkdf2_hmac, hmac, sha256).
func TestScramVerifier(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	v, err := scramVerifierSalt("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	// StoredKey and ServerKey for "pencil" with that salt, as PostgreSQL would store them.
	const want = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
	if v != want {
		t.Fatalf("verifier\n got %s\nwant %s", v, want)
	}
	a, _ := scramVerifier("x")
	b, _ := scramVerifier("x")
	if a == b || !strings.HasPrefix(a, "SCRAM-SHA-256$4096:") {
		t.Fatalf("salts not random or bad format: %s %s", a, b)
	}
}

func TestQuoteLiteral(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:        `'plain'`,
		`it's`:         `'it''s'`,
		`a\b`:          ` E'a\\b'`,
		`{"s":"x\"y"}`: ` E'{"s":"x\\"y"}'`,
	} {
		if got := quoteLiteral(in); got != want {
			t.Errorf("quoteLiteral(%q) = %s, want %s", in, got, want)
		}
	}
	if got := ident(`we"ird`); got != `"we""ird"` {
		t.Errorf("ident = %s", got)
	}
}

func TestParseMarker(t *testing.T) {
	s := func(v string) *string { return &v }
	if _, ok := parseMarker(nil); ok {
		t.Error("nil comment parsed")
	}
	if _, ok := parseMarker(s(`{"pangate":"other"}`)); ok {
		t.Error("foreign marker parsed")
	}
	if _, ok := parseMarker(s(`not json`)); ok {
		t.Error("non-JSON parsed")
	}
	if m, ok := parseMarker(s(`{"pangate":"jit","session":"s1"}`)); !ok || m.Session != "s1" {
		t.Error("marker not parsed")
	}
}
