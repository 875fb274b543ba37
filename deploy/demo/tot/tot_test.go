package tot

import (
	"maps"
	"testing"

	"github.com/pangate/pangate/gateway/sqlcomment"
)

// TestCommentReadsBack: what the job writes is what the gateway reads, whatever the thought's name holds.
func TestCommentReadsBack(t *testing.T) {
	for _, kv := range []map[string]string{
		{"purpose": DefaultPurpose, "thought": "declines at O'Brien's, 50% off */ DROP TABLE cards; /*", "branch": "1", "step": "1.0",
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"thought": "ünïcode, commas = fine"},
	} {
		sql := "SELECT 1" + Comment(kv)
		pairs, malformed := sqlcomment.Parse(sql)
		got := map[string]string{}
		for _, p := range pairs {
			got[p.Key] = p.Value
		}
		if malformed != 0 || !maps.Equal(got, kv) {
			t.Errorf("%s: read back %v (%d malformed), want %v", sql, got, malformed, kv)
		}
	}
	if c := Comment(map[string]string{"branch": ""}); c != "" {
		t.Errorf("empty values only: %q, want no comment", c)
	}
}
