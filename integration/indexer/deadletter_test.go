package indexer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/schemas"
)

// TestDeadLetters: malformed and schema-invalid records never vanish: each is in dead_letters with the stage
// that refused it and a reason, good records around them are indexed, and nothing stalls.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	good := session(2, time.Now())
	c := schemas.NewChain(schemas.NewID(), src)
	invalid, err := c.Next(schemas.TypeSessionEnded, map[string]any{"reason": 42}) // reason must be a string
	if err != nil {
		t.Fatal(err)
	}
	edited, err := c.Next(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"})
	if err != nil {
		t.Fatal(err)
	}
	edited.Data = json.RawMessage(`{"blocked":0,"bytes_in":0,"bytes_out":0,"duration_us":0,"reason":"shutdown","statements":0}`)
	unknown := good[0]
	unknown.Type = "session.teleported"
	mk := func(e schemas.Event) []byte {
		b, err := schemas.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	audit := en.prefix + schemas.TopicAudit
	bad := map[string][]byte{
		"parse":    []byte("this is not json {"),
		"validate": mk(invalid),
		"verify":   mk(edited),
		"type":     mk(unknown),
	}
	en.produce(schemas.TopicAudit, good[:2]...)
	for _, v := range bad {
		en.produceRaw(&kgo.Record{Topic: audit, Key: []byte("k"), Value: v})
	}
	en.produceRaw(&kgo.Record{Topic: en.prefix + schemas.TopicApprovals, Value: []byte(`{"v":1,"type":"approval.decided"}`)})
	en.produce(schemas.TopicAudit, good[2:]...)

	en.start()
	en.waitCount(30*time.Second, uint64(len(good)), "SELECT count() FROM events FINAL")
	en.waitCount(30*time.Second, 5, "SELECT count() FROM dead_letters FINAL")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := en.ch.Query(ctx, "SELECT kafka_topic, stage, reason, value FROM dead_letters FINAL ORDER BY kafka_topic, kafka_offset")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	stages := map[string]int{}
	for rs.Next() {
		var topic, stage, reason, value string
		if err := rs.Scan(&topic, &stage, &reason, &value); err != nil {
			t.Fatal(err)
		}
		t.Logf("dead letter on %s: %s: %s", topic, stage, reason)
		if reason == "" {
			t.Errorf("dead letter without a reason: %q", value)
		}
		if topic == audit {
			if want, ok := bad[stage]; !ok || string(want) != value {
				t.Errorf("stage %s for value %.80q", stage, value)
			}
		}
		stages[stage]++
	}
	if stages["parse"] != 1 || stages["validate"] != 2 || stages["verify"] != 1 || stages["type"] != 1 {
		t.Errorf("stages %v, want parse 1, validate 2 (one per topic), verify 1, type 1", stages)
	}
}
