package emit

import (
	"context"
	"testing"
	"time"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/kafka/kafkatest"
	"github.com/pangate/pangate/schemas"
)

// TestProducerUsesTheClientBlock runs against the local stack's broker (PLAINTEXT, no SASL): with a SASL
// client block the report.generated producer is turned away at the SASL handshake, which shows that it
// starts from kafka.Config.Opts rather than from the brokers alone.
func TestProducerUsesTheClientBlock(t *testing.T) {
	probe := kafkatest.SASLProbe(stack.Brokers(t), stack.UniqueName(t, "scaffold-reporter-"))
	k, err := New(probe, probe.Topic(schemas.TopicAudit), schemas.Source{Instance: "probe", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := k.cl.Ping(ctx); !kafkatest.SASLAttempted(err) {
		t.Fatalf("ping with a SASL block: %v, want a refused SASL handshake", err)
	}
	ectx, ecancel := context.WithTimeout(ctx, 2*time.Second)
	defer ecancel()
	if err := k.Emit(ectx, schemas.ReportGenerated{}); err == nil {
		t.Fatal("a report.generated event was acknowledged through a client the broker refused")
	}
}
