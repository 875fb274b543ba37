// Package progress shows a long run's progress on the terminal: a redrawn bar on stderr when it is a TTY,
// plain progress lines otherwise, so logs stay readable. Each line has the stage, the events done of the
// total, the rate and the estimated time left.
//
// Lines come at least every few seconds while a stage runs (a heartbeat), however rarely the caller
// reports: the integrity stage's streaming reports per chunk, and a chunk of a large store takes a while.
// Events is cheap (a lock and a clock read), so callers may report as often as they like; the bar throttles.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar reports stages and event counts. Its methods are safe for concurrent use.
type Bar struct {
	mu         sync.Mutex
	w          io.Writer
	tty        bool
	now        func() time.Time
	every      time.Duration
	start      time.Time
	stage      string
	stageStart time.Time
	done       int64
	total      int64 // 0: the stage has no event count
	last       time.Time
	drawn      bool
	stop       chan struct{}
}

// New writes to f (redrawn in place when f is a terminal) and starts the heartbeat; call Done at the end.
func New(f *os.File) *Bar {
	b := newBar(f, term.IsTerminal(int(f.Fd())), 3*time.Second, time.Now)
	b.heartbeat()
	return b
}

// NewWriter writes plain lines to w at most once per every (tests, pipes), with no heartbeat.
func NewWriter(w io.Writer, every time.Duration) *Bar {
	return newBar(w, false, every, time.Now)
}

func newBar(w io.Writer, tty bool, every time.Duration, now func() time.Time) *Bar {
	t := now()
	return &Bar{w: w, tty: tty, every: every, now: now, start: t, stageStart: t}
}

// heartbeat redraws the current state every b.every while a counted stage runs, until Done.
func (b *Bar) heartbeat() {
	b.stop = make(chan struct{})
	go func() {
		t := time.NewTicker(b.every)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.Tick()
			}
		}
	}()
}

// Tick writes the current state if nothing was written for every (the heartbeat calls it).
func (b *Bar) Tick() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total > 0 && b.done < b.total && b.now().Sub(b.last) >= b.every {
		b.write()
	}
}

// Stage announces a new stage.
func (b *Bar) Stage(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stage, b.stageStart, b.done, b.total = name, b.now(), 0, 0
	if b.tty {
		b.clear()
		fmt.Fprintf(b.w, "\r%-60s", trunc(name, 60))
		b.drawn = true
		return
	}
	fmt.Fprintf(b.w, "progress: %s (%s)\n", name, b.now().Sub(b.start).Round(time.Millisecond))
}

// Events reports done of total events of the current stage.
func (b *Bar) Events(done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if total <= 0 {
		total = 1
	}
	b.done, b.total = done, total
	since := b.now().Sub(b.last)
	if b.tty && since >= 100*time.Millisecond || since >= b.every || done >= total {
		b.write()
	}
}

// write draws the current state; b.mu is held.
func (b *Bar) write() {
	b.last = b.now()
	frac := min(float64(b.done)/float64(b.total), 1)
	elapsed := b.last.Sub(b.stageStart)
	rate, eta := "", "ETA unknown"
	if s := elapsed.Seconds(); s > 0 && b.done > 0 {
		r := float64(b.done) / s
		rate = ", " + humanRate(r)
		eta = "ETA " + (time.Duration(float64(b.total-b.done) / r * float64(time.Second))).Round(time.Second).String()
		if b.done >= b.total {
			eta = "done in " + elapsed.Round(time.Millisecond).String()
		}
	}
	if b.tty {
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(b.w, "\r%-20s [%s%s] %5.1f%% %d/%d events%s, %s   ", trunc(b.stage, 20), strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, b.done, b.total, rate, eta)
		b.drawn = true
		return
	}
	fmt.Fprintf(b.w, "progress: %s %d/%d events (%.1f%%)%s, %s, elapsed %s\n", b.stage, b.done, b.total, frac*100, rate, eta, elapsed.Round(time.Second))
}

func humanRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.1fM events/s", r/1e6)
	case r >= 1e4:
		return fmt.Sprintf("%.1fk events/s", r/1e3)
	}
	return fmt.Sprintf("%.0f events/s", r)
}

// Done stops the heartbeat and ends the bar's line.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop != nil {
		close(b.stop)
		b.stop = nil
	}
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}

func (b *Bar) clear() {
	if b.drawn {
		fmt.Fprint(b.w, "\r"+strings.Repeat(" ", 100)+"\r")
	}
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
