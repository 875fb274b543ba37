package progress

import (
	"bytes"
	"strings"
	"testing"
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
