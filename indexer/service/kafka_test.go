package service

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/ingest"
	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/kafka/kafkatest"
)

// syncBuffer is a log sink the consumer goroutine and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKafkaClientsUseTheClientBlock runs against the local stack's broker (PLAINTEXT, no SASL): with a
// SASL client block, the retention producer and the group consumer are both turned away at the SASL
// handshake, which shows that they start from kafka.Config.Opts rather than from the brokers alone.
func TestKafkaClientsUseTheClientBlock(t *testing.T) {
	cfg := config.Defaults()
	cfg.Kafka.Config = kafkatest.SASLProbe(stack.Brokers(t), stack.UniqueName(t, "scaffold-indexer-"))
	cfg.Kafka.Group = cfg.Kafka.TopicPrefix + "group"

	prod, err := newProducer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := prod.Ping(ctx); !kafkatest.SASLAttempted(err) {
		t.Fatalf("retention producer with a SASL block: ping %v, want a refused SASL handshake", err)
	}

	ic, err := ingestConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	in, err := ingest.New(ic, nil, rows.NewMapper(), nil, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- in.Run(rctx) }()
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) && !kafkatest.SASLAttempted(errorText(logs.String())) {
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	<-done
	if !kafkatest.SASLAttempted(errorText(logs.String())) {
		t.Fatalf("consumer with a SASL block logged no refused SASL handshake:\n%s", logs.String())
	}
	if in.Ready() {
		t.Fatal("consumer reports ready although the broker refused it")
	}
}

type textError string

func (e textError) Error() string { return string(e) }

func errorText(s string) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	return textError(s)
}
