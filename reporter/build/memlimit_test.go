package build

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestApplyMemoryLimit: the default soft limit applies when the operator set none, and GOMEMLIMIT wins.
func TestApplyMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(old) })
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		t.Cleanup(func() { os.Setenv("GOMEMLIMIT", v) })
	}
	os.Unsetenv("GOMEMLIMIT")
	if got := ApplyMemoryLimit(); got != MemoryLimit || debug.SetMemoryLimit(-1) != MemoryLimit {
		t.Fatalf("without GOMEMLIMIT: %d, runtime %d, want %d", got, debug.SetMemoryLimit(-1), MemoryLimit)
	}
	debug.SetMemoryLimit(3 << 30) // as the runtime would have read GOMEMLIMIT=3GiB at start
	t.Setenv("GOMEMLIMIT", "3GiB")
	if got := ApplyMemoryLimit(); got != 3<<30 || debug.SetMemoryLimit(-1) != 3<<30 {
		t.Fatalf("with GOMEMLIMIT=3GiB: %d, runtime %d", got, debug.SetMemoryLimit(-1))
	}
}
