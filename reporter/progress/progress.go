// Package progress shows a long run's progress on the terminal: a redrawn bar on stderr when it is a TTY,
// plain progress lines (at most one every few seconds) otherwise, so logs stay readable.
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

// Bar reports stages and event counts.
type Bar struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	stage string
	last  time.Time
	start time.Time
	every time.Duration
	drawn bool
}

// New writes to f; the bar is redrawn in place only when f is a terminal.
func New(f *os.File) *Bar {
	return &Bar{w: f, tty: term.IsTerminal(int(f.Fd())), start: time.Now(), every: 5 * time.Second}
}

// NewWriter writes plain lines to w (tests, pipes).
func NewWriter(w io.Writer, every time.Duration) *Bar {
	return &Bar{w: w, start: time.Now(), every: every}
}

// Stage announces a new stage.
func (b *Bar) Stage(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stage = name
	if b.tty {
		b.clear()
		fmt.Fprintf(b.w, "\r%-60s", trunc(name, 60))
		b.drawn = true
		return
	}
	fmt.Fprintf(b.w, "progress: %s (%s)\n", name, time.Since(b.start).Round(time.Millisecond))
}

// Events reports done of total events verified.
func (b *Bar) Events(done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if total <= 0 {
		total = 1
	}
	frac := float64(done) / float64(total)
	if frac > 1 {
		frac = 1
	}
	if b.tty {
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(b.w, "\r%-20s [%s%s] %5.1f%% %d/%d events", trunc(b.stage, 20), strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, done, total)
		b.drawn = true
		return
	}
	if time.Since(b.last) >= b.every || done >= total {
		b.last = time.Now()
		fmt.Fprintf(b.w, "progress: %s %d/%d events (%.1f%%)\n", b.stage, done, total, frac*100)
	}
}

// Done ends the bar's line.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
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
