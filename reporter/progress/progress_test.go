package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPlainLinesWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	b := NewWriter(&buf, 0)
	b.Stage("integrity")
	b.Events(50, 100)
	b.Events(100, 100)
	b.Done()
	out := buf.String()
	if strings.Contains(out, "\r") {
		t.Fatalf("carriage returns in non-TTY output: %q", out)
	}
	for _, want := range []string{"progress: integrity", "50/100 events (50.0%)", "100/100 events (100.0%)"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in %q", want, out)
		}
	}
}

// fakeClock is a clock the test advances.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// TestRateETAAndHeartbeat: generating a 388k-event package printed two progress lines in 25 s (one per
// 200k events) without rate or ETA (issue 15). The heartbeat writes a line at least every few seconds
// however rarely the caller reports.
func TestRateETAAndHeartbeat(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	b := newBar(&buf, false, 3*time.Second, clk.now)
	b.Stage("integrity")
	clk.advance(10 * time.Second)
	b.Events(200000, 400000) // 20k events/s, 10 s left
	lines := 0
	for i := 0; i < 4; i++ { // 8 s without a report: the heartbeat writes at 3 s and 6 s
		clk.advance(2 * time.Second)
		b.Tick()
	}
	b.Events(400000, 400000)
	out := buf.String()
	lines = strings.Count(out, "progress: integrity 200000/400000")
	if lines != 3 {
		t.Errorf("%d lines at 200000/400000 (report + 2 heartbeats), want 3:\n%s", lines, out)
	}
	for _, want := range []string{"20.0k events/s", "ETA 10s", "400000/400000 events (100.0%)", "done in 18s"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	b.Tick()
	if strings.Count(buf.String(), "\n") != strings.Count(out, "\n") {
		t.Error("the heartbeat wrote after the stage finished")
	}
}
