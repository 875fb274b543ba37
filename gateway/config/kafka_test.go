package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaClientOptsAuthenticate: the SASL settings produce options with which a client reaches a broker
// that requires SASL, and a wrong password is refused (so the options are really applied).
func TestKafkaClientOptsAuthenticate(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "pangate", "s3cret"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			dir := t.TempDir()
			for _, pw := range []string{"s3cret", "wrong"} {
				f := filepath.Join(dir, pw)
				if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				k := Kafka{Brokers: c.ListenAddrs(), SASL: KafkaSASL{Mechanism: mech, Username: "pangate", PasswordFile: f}}
				opts, err := k.ClientOpts()
				if err != nil {
					t.Fatal(err)
				}
				cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Brokers...), kgo.RequestRetries(0)}, opts...)...)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err = cl.Ping(ctx)
				cancel()
				cl.Close()
				if (err == nil) != (pw == "s3cret") {
					t.Fatalf("password %q: ping error %v", pw, err)
				}
			}
		})
	}
}

func TestKafkaSecurityValidate(t *testing.T) {
	for _, tc := range []struct {
		k    Kafka
		want string
	}{
		{Kafka{SASL: KafkaSASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, "kafka.sasl.mechanism"},
		{Kafka{SASL: KafkaSASL{Mechanism: "PLAIN", Password: "p"}}, "kafka.sasl.username is empty"},
		{Kafka{SASL: KafkaSASL{Mechanism: "PLAIN", Username: "u"}}, "password_file"},
		{Kafka{TLS: KafkaTLS{CertFile: "c.pem"}}, "kafka.tls: set both"},
		{Kafka{TLS: KafkaTLS{CAFile: "/nonexistent/ca.pem"}}, "kafka.tls.ca_file"},
	} {
		c := Config{Kafka: tc.k}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: want an error about %q, got %v", tc.k, tc.want, err)
		}
	}
	if _, err := (Kafka{TLS: KafkaTLS{CAFile: "/nonexistent/ca.pem"}}).ClientOpts(); err == nil {
		t.Error("ClientOpts read a missing CA file")
	}
}
