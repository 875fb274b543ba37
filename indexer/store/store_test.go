package store

import (
	"errors"
	"testing"
	"time"

	"github.com/pangate/pangate/indexer/rows"
	"github.com/pangate/pangate/internal/auditstore"
)

func TestByMonths(t *testing.T) {
	var rs []rows.Row
	for m := 0; m < 250; m++ {
		ts := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, m, 0)
		rs = append(rs, rows.Row{Table: &auditstore.Events, Values: []any{"id", ts}}, rows.Row{Table: &auditstore.Events, Values: []any{"id2", ts}})
	}
	chunks := byMonths(rs, 90)
	if len(chunks) != 3 {
		t.Fatalf("%d chunks, want 3", len(chunks))
	}
	total := 0
	for _, c := range chunks {
		seen := map[int]bool{}
		for _, r := range c {
			tv := r.Values[1].(time.Time)
			seen[tv.Year()*100+int(tv.Month())] = true
		}
		if len(seen) > 90 {
			t.Errorf("chunk spans %d months", len(seen))
		}
		total += len(c)
	}
	if total != len(rs) {
		t.Errorf("%d rows in chunks, want %d", total, len(rs))
	}
	if got := byMonths(rs[:10], 90); len(got) != 1 || len(got[0]) != 10 {
		t.Errorf("small batch split: %v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("empty config: %v", err)
	}
	if err := (Config{Addrs: []string{"h"}, Database: "d", User: "u"}).Validate(); err == nil {
		t.Error("address without port accepted")
	}
	if err := (Config{Addrs: []string{"h:9000"}, Database: "d", User: "u"}).Validate(); err != nil {
		t.Error(err)
	}
}
