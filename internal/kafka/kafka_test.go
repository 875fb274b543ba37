package kafka_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/internal/kafka/kafkatest"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := []string{"127.0.0.1:9092"}
	for _, tc := range []struct {
		name string
		c    kafka.Config
		want string // "" = valid
	}{
		{"minimal", kafka.Config{Brokers: ok}, ""},
		{"scram with file", kafka.Config{Brokers: ok, SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: pw}}, ""},
		{"lower-case mechanism", kafka.Config{Brokers: ok, SASL: kafka.SASL{Mechanism: "plain", Username: "u", Password: "p"}}, ""},
		{"no brokers", kafka.Config{}, "kafka.brokers is empty"},
		{"no brokers names env", kafka.Config{}, "PANGATE_TEST_KAFKA_BROKERS"},
		{"broker without port", kafka.Config{Brokers: []string{"kafka"}}, `"kafka" is not host:port`},
		{"prefix with space", kafka.Config{Brokers: ok, TopicPrefix: "a b"}, "kafka.topic_prefix"},
		{"unknown mechanism", kafka.Config{Brokers: ok, SASL: kafka.SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}}, "kafka.sasl.mechanism"},
		{"no username", kafka.Config{Brokers: ok, SASL: kafka.SASL{Mechanism: "PLAIN", Password: "p"}}, "kafka.sasl.username is empty"},
		{"no password", kafka.Config{Brokers: ok, SASL: kafka.SASL{Mechanism: "PLAIN", Username: "u"}}, "password_file"},
		{"credentials without mechanism", kafka.Config{Brokers: ok, SASL: kafka.SASL{Username: "u"}}, "mechanism is empty"},
		{"half a client cert", kafka.Config{Brokers: ok, TLS: kafka.TLS{CertFile: pw}}, "kafka.tls: set both"},
		{"missing CA", kafka.Config{Brokers: ok, TLS: kafka.TLS{CAFile: "/nonexistent/ca.pem"}}, "kafka.tls.ca_file"},
		{"missing password file", kafka.Config{Brokers: ok, SASL: kafka.SASL{Mechanism: "PLAIN", Username: "u", PasswordFile: "/nonexistent/pw"}}, "kafka.sasl.password_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate("PANGATE_TEST_")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid block refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error about %q, got %v", tc.want, err)
			case err != nil && !errors.Is(err, kafka.ErrInvalid):
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestOptsRefusesUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []kafka.Config{
		{TLS: kafka.TLS{CAFile: "/nonexistent/ca.pem"}},
		{TLS: kafka.TLS{CAFile: notPEM}},
		{TLS: kafka.TLS{CertFile: notPEM, KeyFile: notPEM}},
		{SASL: kafka.SASL{Mechanism: "PLAIN", Username: "u", PasswordFile: "/nonexistent/pw"}},
		{SASL: kafka.SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}},
	} {
		if _, err := c.Opts(); !errors.Is(err, kafka.ErrInvalid) {
			t.Errorf("%+v: Opts error %v, want ErrInvalid", c, err)
		}
	}
}

func TestTopic(t *testing.T) {
	for _, tc := range []struct{ prefix, name, want string }{
		{"", "pangate.audit", "pangate.audit"},
		{"t1-", "pangate.approvals", "t1-pangate.approvals"},
	} {
		if got := (kafka.Config{TopicPrefix: tc.prefix}).Topic(tc.name); got != tc.want {
			t.Errorf("Topic(%q) with prefix %q = %q, want %q", tc.name, tc.prefix, got, tc.want)
		}
	}
}

// TestOptsAuthenticate: each mechanism reaches a broker that requires it, with the password read from
// password_file, and a wrong password is refused (so the options are really applied).
func TestOptsAuthenticate(t *testing.T) {
	for _, mech := range kafka.Mechanisms {
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
				k := kafka.Config{Brokers: c.ListenAddrs(), SASL: kafka.SASL{Mechanism: mech, Username: "pangate", PasswordFile: f}}
				cl, err := k.NewClient(kgo.RequestRetries(0))
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

// TestOptsReachLocalBroker runs against the local stack's broker (PLAINTEXT, no SASL): the plain block
// connects, a SASL block is turned away at the handshake and a TLS block at the dial — what a service
// test observes to prove its clients start from Opts.
func TestOptsReachLocalBroker(t *testing.T) {
	brokers := stack.Brokers(t)
	for _, tc := range []struct {
		name  string
		c     kafka.Config
		check func(error) bool
	}{
		{"plaintext", kafka.Config{Brokers: brokers}, func(err error) bool { return err == nil }},
		{"sasl", kafkatest.SASLProbe(brokers, ""), kafkatest.SASLAttempted},
		{"tls", kafka.Config{Brokers: brokers, TLS: kafka.TLS{Enabled: true}}, func(err error) bool { return err != nil && strings.Contains(err.Error(), "TLS") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := tc.c.NewClient(kgo.RequestRetries(0))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := cl.Ping(ctx); !tc.check(err) {
				t.Fatalf("ping: %v", err)
			}
		})
	}
}

func TestListOffsets(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kafka.Config{Brokers: c.ListenAddrs()}.NewClient(kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	ends, err := kafka.ListOffsets(ctx, adm.ListEndOffsets, "t", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 3 {
		t.Fatalf("end offsets sum %d, want 3", total)
	}
	if parts := kafka.At(ends); len(parts) != 2 {
		t.Fatalf("At: %d partitions, want 2", len(parts))
	}
	start := time.Now()
	if _, err := kafka.ListOffsets(ctx, adm.ListEndOffsets, "missing", 300*time.Millisecond); err == nil {
		t.Fatal("offsets of a missing topic")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %s, limit was 300ms", d)
	}
}
