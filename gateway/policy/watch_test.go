package policy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

const (
	policyA   = "version: 1\nrules: []\ndefault: {action: allow}\n"
	policyB   = "version: 1\nrules: []\ndefault: {action: deny, reason: b}\n"
	policyBad = "version: 1\nrules:\n  - {name: x, when: 'kind ==', action: allow}\ndefault: {action: deny}\n"
)

// writeAtomic replaces the file by rename, as editors and ConfigMap updates do.
func writeAtomic(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitReload(t *testing.T, ch <-chan Reload) Reload {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no reload reported within 10s")
		return Reload{}
	}
}

func startWatcher(t *testing.T, cfg WatcherConfig) (*Watcher, <-chan Reload) {
	t.Helper()
	ch := make(chan Reload, 8)
	cfg.OnReload = func(r Reload) { ch <- r }
	w, err := NewWatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	<-w.ready
	return w, ch
}

func TestWatcherFileChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeAtomic(t, path, policyA)
	w, ch := startWatcher(t, WatcherConfig{Path: path, Debounce: 20 * time.Millisecond})
	first := w.Current()

	writeAtomic(t, path, policyB)
	r := waitReload(t, ch)
	if r.Err != nil || !r.Changed || r.Trigger != TriggerFile || r.Previous != first || w.Current() != r.Policy {
		t.Fatalf("good change: %+v", r)
	}
	if r.Policy.Evaluate(Input{}).Reason != "b" {
		t.Errorf("new policy not in force")
	}

	// A broken file keeps the old policy and reports why.
	writeAtomic(t, path, policyBad)
	r = waitReload(t, ch)
	if r.Err == nil || !errors.Is(r.Err, ErrInvalid) || r.Changed || w.Current() != r.Previous {
		t.Fatalf("bad change: %+v", r)
	}

	// Fixing it loads again.
	writeAtomic(t, path, policyA)
	r = waitReload(t, ch)
	if r.Err != nil || !r.Changed || w.Current().Hash() != first.Hash() {
		t.Fatalf("fixed: %+v", r)
	}
}

func TestWatcherSignalAndManual(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeAtomic(t, path, policyA)
	w, ch := startWatcher(t, WatcherConfig{Path: path, Signal: true, Debounce: time.Hour})
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	r := waitReload(t, ch)
	if r.Trigger != TriggerSignal || r.Changed || r.Err != nil {
		t.Fatalf("signal with unchanged file: %+v", r)
	}
	if err := os.WriteFile(path, []byte(policyB), 0o644); err != nil {
		t.Fatal(err)
	}
	r = w.Reload()
	if r.Trigger != TriggerManual || !r.Changed || r.Err != nil {
		t.Fatalf("manual: %+v", r)
	}
	if got := waitReload(t, ch); got.Trigger != TriggerManual {
		t.Fatalf("OnReload not called for manual reload: %+v", got)
	}
}

func TestWatcherPolling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeAtomic(t, path, policyA)
	_, ch := startWatcher(t, WatcherConfig{Path: path, PollInterval: 20 * time.Millisecond, Debounce: time.Hour})
	writeAtomic(t, path, policyB)
	if r := waitReload(t, ch); !r.Changed {
		t.Fatalf("%+v", r)
	}
}

func TestWatcherConfig(t *testing.T) {
	if _, err := NewWatcher(WatcherConfig{}); err == nil {
		t.Error("empty path accepted")
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	writeAtomic(t, path, policyBad)
	if _, err := NewWatcher(WatcherConfig{Path: path}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad first policy: %v", err)
	}
}
