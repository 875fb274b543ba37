package cli

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"2026-10-01":           time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC),
		"2026-10":              time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC),
		"2026-10-01T05:00:00Z": time.Date(2026, 10, 1, 5, 0, 0, 0, time.UTC),
	} {
		got, _, err := parseTime(in)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if _, _, err := parseTime("yesterday"); err == nil {
		t.Error("accepted yesterday")
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-10-01", "2026-10", "2026-10-01T05:00:00Z", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tm, _, err := parseTime(s); err == nil && tm.Location() != time.UTC {
			t.Fatalf("%q parsed to non-UTC %v", s, tm)
		}
	})
}
