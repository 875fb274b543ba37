// Package emit records the reporter's own runs as report.generated events on the audit topic (PCI DSS
// 10.2.1.3: reads of the audit logs are themselves logged). Each run is an unchained record (its own
// stream id), acknowledged by all in-sync replicas before the run reports success.
package emit

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/schemas"
)

// Kafka produces report.generated events.
type Kafka struct {
	cl     *kgo.Client
	topic  string
	source schemas.Source
}

// New connects a producer (acks=all, idempotent) through the reporter's Kafka client block k (brokers,
// TLS, SASL) that writes to topic.
func New(k kafka.Config, topic string, source schemas.Source) (*Kafka, error) {
	cl, err := k.NewClient(kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProduceRequestTimeout(10*time.Second), kgo.RecordDeliveryTimeout(20*time.Second))
	if err != nil {
		return nil, fmt.Errorf("emit: kafka client for %v: %w", k.Brokers, err)
	}
	return &Kafka{cl: cl, topic: topic, source: source}, nil
}

// Emit writes one report.generated event and waits for its acknowledgement.
func (k *Kafka) Emit(ctx context.Context, r schemas.ReportGenerated) error {
	e, err := schemas.NewUnchained("report-"+schemas.NewID(), k.source, schemas.TypeReportGenerated, r)
	if err != nil {
		return err
	}
	b, err := schemas.Marshal(e)
	if err != nil {
		return err
	}
	if err := k.cl.ProduceSync(ctx, &kgo.Record{Topic: k.topic, Key: []byte(e.Session), Value: b}).FirstErr(); err != nil {
		return fmt.Errorf("emit: report.generated to %s: %w", k.topic, err)
	}
	return nil
}

// Close closes the producer.
func (k *Kafka) Close() { k.cl.Close() }
