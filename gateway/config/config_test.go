package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigParses(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "deploy", "gateway", "gateway.example.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:6432" || len(c.Targets) != 1 || c.Targets[0].Name != "payments" || c.Kafka.AckTimeout != 5*time.Second {
		t.Fatalf("example config read as %+v", c)
	}
}

func TestEnvOverrides(t *testing.T) {
	c, err := Load("", []string{
		"PANGATE_GATEWAY_LISTEN=127.0.0.1:7000",
		"PANGATE_GATEWAY_KAFKA_BROKERS=a:1, b:2",
		"PANGATE_GATEWAY_KAFKA_ACK_TIMEOUT=2s",
		"PANGATE_GATEWAY_ALLOW_PLAINTEXT_LOOPBACK=true",
		"PANGATE_GATEWAY_LIMITS_MAX_CONNECTIONS=7",
		"PANGATE_GATEWAY_LIMITS_MAX_UNAUTHENTICATED=5",
		"PANGATE_GATEWAY_LIMITS_CANCEL_RATE=2.5",
		"OTHER=ignored",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:7000" || strings.Join(c.Kafka.Brokers, ",") != "a:1,b:2" || c.Kafka.AckTimeout != 2*time.Second ||
		!c.AllowPlaintextLoopback || c.Limits.MaxConnections != 7 || c.Limits.MaxUnauthenticated != 5 ||
		c.Limits.CancelRate != 2.5 || c.Limits.CancelBurst != 100 {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if _, err := Load("", []string{"PANGATE_GATEWAY_NO_SUCH=1"}); err == nil || !strings.Contains(err.Error(), "names no setting") {
		t.Fatalf("unknown variable: %v", err)
	}
	if _, err := Load("", []string{"PANGATE_GATEWAY_KAFKA_ACK_TIMEOUT=soon"}); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Fatalf("bad duration: %v", err)
	}
}

// TestPreAuthLimitDefaults: the pre-authentication limits of issue 13.4 are on by default and refuse
// values that would switch them off.
func TestPreAuthLimitDefaults(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxUnauthenticated != 64 || c.Limits.CancelRate != 50 || c.Limits.CancelBurst != 100 {
		t.Fatalf("defaults: max_unauthenticated %d, cancel_rate %g, cancel_burst %d; want 64, 50, 100",
			c.Limits.MaxUnauthenticated, c.Limits.CancelRate, c.Limits.CancelBurst)
	}
	for _, tc := range []struct{ env, want string }{
		{"PANGATE_GATEWAY_LIMITS_MAX_UNAUTHENTICATED=-1", "limits.max_unauthenticated"},
		{"PANGATE_GATEWAY_LIMITS_CANCEL_RATE=-3", "limits.cancel_rate"},
		{"PANGATE_GATEWAY_LIMITS_CANCEL_BURST=-1", "limits.cancel_burst"},
	} {
		c, err := Load("", []string{tc.env})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate says %v, want it to name %s", tc.env, err, tc.want)
		}
	}
}

func TestValidateSaysWhatToFix(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Validate()
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty config validated: %v", err)
	}
	for _, want := range []string{"tls.cert_file", "checkpoint.key_file", "kafka.brokers", "targets is empty", "auth.issuers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not mention %q:\n%v", want, err)
		}
	}
}

func TestUnknownFieldRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte("listen: x:1\nlisten_adress: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, nil); err == nil || !strings.Contains(err.Error(), "listen_adress") {
		t.Fatalf("typo accepted: %v", err)
	}
}
