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
		"OTHER=ignored",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:7000" || strings.Join(c.Kafka.Brokers, ",") != "a:1,b:2" || c.Kafka.AckTimeout != 2*time.Second ||
		!c.AllowPlaintextLoopback || c.Limits.MaxConnections != 7 {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if _, err := Load("", []string{"PANGATE_GATEWAY_NO_SUCH=1"}); err == nil || !strings.Contains(err.Error(), "names no setting") {
		t.Fatalf("unknown variable: %v", err)
	}
	if _, err := Load("", []string{"PANGATE_GATEWAY_KAFKA_ACK_TIMEOUT=soon"}); err == nil || !strings.Contains(err.Error(), "duration") {
		t.Fatalf("bad duration: %v", err)
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
