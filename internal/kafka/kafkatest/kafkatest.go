// Package kafkatest helps a service's tests prove that every Kafka client the service makes starts from
// kafka.Config.Opts: a SASL probe configuration that the local stack's broker (PLAINTEXT, no SASL) turns
// away in a recognisable way.
package kafkatest

import (
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/pangate/pangate/internal/kafka"
)

// SASLProbe returns a client block for brokers that asks for SASL PLAIN with a wrong password. A broker
// without SASL answers the handshake with ILLEGAL_SASL_STATE; a client that ignored the block would
// connect instead.
func SASLProbe(brokers []string, prefix string) kafka.Config {
	return kafka.Config{Brokers: brokers, TopicPrefix: prefix,
		SASL: kafka.SASL{Mechanism: "PLAIN", Username: "kafkatest-probe", Password: "wrong"}}
}

// SASLAttempted reports whether err shows that a SASL handshake was attempted and refused (also when a
// service wrapped the error as text).
func SASLAttempted(err error) bool {
	if err == nil {
		return false
	}
	return errors.Is(err, kerr.IllegalSaslState) || errors.Is(err, kerr.SaslAuthenticationFailed) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism) ||
		strings.Contains(err.Error(), kerr.IllegalSaslState.Message)
}
