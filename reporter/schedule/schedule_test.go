package schedule

import (
	"testing"
	"time"
)

func TestPeriods(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 15, 0, 0, time.UTC)
	f, to := PreviousDay(now)
	if !f.Equal(time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)) || !to.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("previous day %v %v", f, to)
	}
	f, to = PreviousMonth(now)
	if !f.Equal(time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)) || !to.Equal(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("previous month %v %v", f, to)
	}
	f, _ = PreviousMonth(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))
	if !f.Equal(time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("january's previous month %v", f)
	}
}

func TestBadSpecRefused(t *testing.T) {
	if _, err := New(Config{Daily: "daily"}, nil, nil); err == nil {
		t.Fatal("bad spec accepted")
	}
}
