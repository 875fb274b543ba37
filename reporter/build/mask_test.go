package build

import (
	"testing"

	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/reporter/transcript"
)

// TestMaskTableLeavesIdentifiers pins the regression where re-masking whole files rewrote the last group of
// event UUIDs (12 digits passing Maestro IIN + Luhn) in the bench's packages.
func TestMaskTableLeavesIdentifiers(t *testing.T) {
	m, err := mask.New(mask.Config{})
	if err != nil {
		t.Fatal(err)
	}
	p := &pkg{b: &Builder{masker: m}}
	id := "01a21cac-2204-7665-aac2-613163876399"
	tb := &query.Table{Columns: []string{"event_id", "session", "sql"}, Rows: [][]string{{id, "613163876399", "SELECT '4111111111111111'"}}}
	p.maskTable(tb)
	if tb.Rows[0][0] != id || tb.Rows[0][1] != "613163876399" {
		t.Fatalf("identifiers rewritten: %v", tb.Rows[0])
	}
	if tb.Rows[0][2] == "SELECT '4111111111111111'" || p.masked != 1 {
		t.Fatalf("PAN in sql not masked: %v (masked %d)", tb.Rows[0][2], p.masked)
	}
	tr := &transcript.Transcript{Entries: []transcript.Entry{{EventID: id, Summary: "statement 4111 1111 1111 1111", Lines: []string{"5500-0000-0000-0004"}}}}
	p.maskTranscript(tr)
	if tr.Entries[0].EventID != id || tr.Entries[0].Summary == "statement 4111 1111 1111 1111" || tr.Entries[0].Lines[0] == "5500-0000-0000-0004" {
		t.Fatalf("transcript masking: %+v", tr.Entries[0])
	}
}
