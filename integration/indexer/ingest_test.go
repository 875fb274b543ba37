package indexer_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/schemas"
)

// TestIngestBasic: events of both topics land in the raw and typed tables, once each, and a restarted
// indexer resumes from its committed offsets without duplicating what auditors count.
func TestIngestBasic(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	var evs []schemas.Event
	for i := 0; i < 20; i++ {
		evs = append(evs, session(5, time.Now())...)
	}
	en.produce(schemas.TopicAudit, evs...)
	ap, err := schemas.NewUnchained("ap-1", src, schemas.TypeApprovalDecided, schemas.ApprovalDecided{
		ApprovalID: "ap-1", Decision: "approved", By: "U1", LatencyMS: 1500})
	if err != nil {
		t.Fatal(err)
	}
	en.produce(schemas.TopicApprovals, ap)
	p := en.start()
	en.waitCount(30*time.Second, uint64(len(evs)+1), "SELECT count() FROM events FINAL")
	if n := en.count("SELECT count() FROM statements FINAL"); n != 100 {
		t.Errorf("statements = %d, want 100", n)
	}
	if n := en.count("SELECT count() FROM sessions FINAL"); n != 20 {
		t.Errorf("sessions = %d, want 20", n)
	}
	if n := en.count("SELECT count() FROM approvals FINAL WHERE decided_by = 'U1' AND latency_ms = 1500"); n != 1 {
		t.Errorf("approvals = %d, want 1", n)
	}
	p.stop(t)

	// More events after a graceful restart: only the new ones are added.
	more := session(3, time.Now())
	en.produce(schemas.TopicAudit, more...)
	en.start()
	en.waitCount(30*time.Second, uint64(len(evs)+1+len(more)), "SELECT count() FROM events FINAL")
	if n := en.count("SELECT count() FROM dead_letters FINAL"); n != 0 {
		t.Errorf("dead letters = %d, want 0", n)
	}
	_ = kgo.Record{}
}
