// Package kafka is the one Kafka client block every pangate service configures and connects with: seed
// brokers, a topic prefix, TLS and SASL (Config), turned into franz-go options by Opts so that every
// producer, consumer and admin client of a service reaches the brokers the same way. It also holds the
// offset helpers the services' log tails share.
//
//	kafka:
//	  brokers: [kafka-0:9093, kafka-1:9093]
//	  topic_prefix: ""                # tests and shared clusters use their own: <prefix>pangate.audit
//	  tls:
//	    enabled: true
//	    ca_file: /etc/pangate/kafka-ca.pem
//	    cert_file: …                  # mutual TLS: both cert_file and key_file, or neither
//	    key_file: …
//	    server_name: ""               # default: each broker's host
//	  sasl:
//	    mechanism: SCRAM-SHA-512      # PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL
//	    username: gateway
//	    password_file: /etc/pangate/kafka-password
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// ErrInvalid is wrapped by every error Validate and Opts return.
var ErrInvalid = errors.New("kafka config")

// Config is a service's Kafka client block (YAML key kafka). Services with more settings embed it inline.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// TopicPrefix is put before every pangate topic name (Topic); tests and shared clusters use their own.
	TopicPrefix string `yaml:"topic_prefix"`
	// TLS and SASL secure every client made with Opts alike.
	TLS  TLS  `yaml:"tls"`
	SASL SASL `yaml:"sasl"`
}

// TLS is TLS to the brokers.
type TLS struct {
	// Enabled turns TLS on (the other fields imply it).
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the brokers (PEM); empty: the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mutual TLS (both or neither).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the brokers' certificates (default: each broker's host).
	ServerName string `yaml:"server_name"`
}

// SASL is SASL authentication to the brokers.
type SASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// PasswordFile holds the password (preferred; a trailing newline is dropped); Password (or the
	// service's PANGATE_<SERVICE>_KAFKA_SASL_PASSWORD) is used when it is empty. Never logged.
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Mechanisms are the SASL mechanisms Opts supports.
var Mechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// On reports whether TLS is in use: Enabled or any other field set.
func (t TLS) On() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != ""
}

// Topic returns the name of the pangate topic name (a schemas.Topic… constant) with the prefix applied.
func (c Config) Topic(name string) string { return c.TopicPrefix + name }

// Validate reports every problem of the block (see Problems), each wrapping ErrInvalid.
func (c Config) Validate(envPrefix string) error {
	var errs []error
	for _, p := range c.Problems(envPrefix) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalid, p))
	}
	return errors.Join(errs...)
}

// Problems lists every problem of the block, each naming the key (under kafka.), the value and what to
// do, for a service's Validate to report among its own. envPrefix (for example "PANGATE_GATEWAY_") is
// named in the hints; it may be empty.
func (c Config) Problems(envPrefix string) []string {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	env := func(key string) string {
		if envPrefix == "" {
			return ""
		}
		return " (or set " + envPrefix + key + ")"
	}
	if len(c.Brokers) == 0 {
		bad("kafka.brokers is empty: list at least one seed broker as host:port%s", env("KAFKA_BROKERS"))
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad("kafka.brokers entry %q is not host:port (e.g. kafka-0:9092)", b)
		}
	}
	if strings.ContainsAny(c.TopicPrefix, " /\\\t") {
		bad("kafka.topic_prefix %q: use letters, digits, '.', '_' and '-' only (it starts every topic name)", c.TopicPrefix)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("kafka.tls: set both cert_file and key_file (mutual TLS), or neither")
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "":
		if c.SASL.Username != "" || c.SASL.Password != "" || c.SASL.PasswordFile != "" {
			bad("kafka.sasl has credentials but kafka.sasl.mechanism is empty: use %s", strings.Join(Mechanisms, ", "))
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.Username == "" {
			bad("kafka.sasl.username is empty: SASL %s needs a user name", c.SASL.Mechanism)
		}
		if c.SASL.Password == "" && c.SASL.PasswordFile == "" {
			bad("kafka.sasl: set password_file%s", env("KAFKA_SASL_PASSWORD"))
		}
	default:
		bad("kafka.sasl.mechanism %q: use %s", c.SASL.Mechanism, strings.Join(Mechanisms, ", "))
	}
	for _, f := range []struct{ name, path string }{{"kafka.tls.ca_file", c.TLS.CAFile}, {"kafka.tls.cert_file", c.TLS.CertFile},
		{"kafka.tls.key_file", c.TLS.KeyFile}, {"kafka.sasl.password_file", c.SASL.PasswordFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			bad("%s %q cannot be read: %v", f.name, f.path, err)
		}
	}
	return errs
}

// Opts returns the options every Kafka client of a service must start from: the seed brokers, TLS and
// SASL. Callers append their own (topics, acks, group); a client made without them would reach a secured
// cluster differently from its siblings, or not at all. Opts reads the files the block names.
func (c Config) Opts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.TLS.On() {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName}
		if c.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("%w: kafka.tls.ca_file: %v", ErrInvalid, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%w: kafka.tls.ca_file %q holds no PEM certificate: give the CA that signed the brokers' certificates", ErrInvalid, c.TLS.CAFile)
			}
			tc.RootCAs = pool
		}
		if c.TLS.CertFile != "" || c.TLS.KeyFile != "" {
			cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("%w: kafka.tls cert_file %q / key_file %q: %v", ErrInvalid, c.TLS.CertFile, c.TLS.KeyFile, err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		// DialTLSConfig sets ServerName per broker when it is empty.
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL.Mechanism != "" {
		pw := c.SASL.Password
		if c.SASL.PasswordFile != "" {
			b, err := os.ReadFile(c.SASL.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("%w: kafka.sasl.password_file: %v", ErrInvalid, err)
			}
			pw = strings.TrimRight(string(b), "\r\n")
		}
		switch strings.ToUpper(c.SASL.Mechanism) {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: c.SASL.Username, Pass: pw}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.Username, Pass: pw}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.Username, Pass: pw}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("%w: kafka.sasl.mechanism %q: use %s", ErrInvalid, c.SASL.Mechanism, strings.Join(Mechanisms, ", "))
		}
	}
	return opts, nil
}

// NewClient is kgo.NewClient(c.Opts()..., extra...): the one way a service makes a Kafka client.
func (c Config) NewClient(extra ...kgo.Opt) (*kgo.Client, error) {
	opts, err := c.Opts()
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(append(opts, extra...)...)
}
