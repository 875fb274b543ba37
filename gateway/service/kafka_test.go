package service

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/kafka/kafkatest"
)

// TestKafkaClientsUseTheClientBlock runs against the local stack's broker (PLAINTEXT, no SASL): a gateway
// whose kafka block asks for SASL stops at its first Kafka client (the topic check) with the broker's
// refusal of the SASL handshake, which shows that Run's clients start from kafka.Config.Opts.
func TestKafkaClientsUseTheClientBlock(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "checkpoint.pem")
	if _, err := audit.WriteKey(key, filepath.Join(dir, "checkpoint.pub.pem")); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kafka.Config = kafkatest.SASLProbe(stack.Brokers(t), stack.UniqueName(t, "scaffold-gateway-"))
	cfg.Checkpoint.KeyFile = key
	cfg.AllowPlaintextLoopback = true
	cfg.Listen = "127.0.0.1:0"
	cfg.Ops.Listen = "off"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = Run(ctx, cfg, slog.New(slog.DiscardHandler), Options{Version: "test"})
	if !kafkatest.SASLAttempted(err) {
		t.Fatalf("Run with a SASL kafka block: %v, want a refused SASL handshake", err)
	}
}
