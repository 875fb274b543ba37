package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Reload triggers.
const (
	TriggerFile   = "file"
	TriggerSignal = "signal"
	TriggerManual = "manual"
)

// Reload reports one reload attempt of a Watcher.
type Reload struct {
	Policy   *Policy // the policy in force after the attempt (the previous one when Err != nil)
	Previous *Policy // the policy before the attempt
	// Changed is true when a new policy took effect (its bytes differ from the previous policy's): the
	// gateway emits policy.loaded then, and only then.
	Changed bool
	Trigger string // TriggerFile, TriggerSignal or TriggerManual
	Err     error  // why the file was refused (wraps ErrInvalid, or a read error); the previous policy stays
}

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Path is the policy file. Its directory is watched, so editors' atomic renames and Kubernetes
	// ConfigMap symlink swaps are seen.
	Path string
	// Signal reloads on SIGHUP too.
	Signal bool
	// Debounce waits this long after the last file event before reloading, so a file written in several
	// steps is read once, complete. Default 200ms.
	Debounce time.Duration
	// PollInterval, when positive, also re-reads the file on this interval (for file systems without
	// inotify). The watcher polls every 2s by itself if it cannot watch the directory.
	PollInterval time.Duration
	// OnReload is called from the watcher's goroutine after every reload attempt that found the file
	// changed, failed, or was asked for (signal, manual). Keep it short.
	OnReload func(Reload)
}

// Validate says what is wrong with the configuration.
func (c *WatcherConfig) Validate() error {
	if c.Path == "" {
		return errors.New("policy watcher: Path is empty: set it to the policy file (e.g. deploy/policy/pci.yaml)")
	}
	if c.Debounce < 0 || c.PollInterval < 0 {
		return fmt.Errorf("policy watcher: Debounce (%s) and PollInterval (%s) must not be negative", c.Debounce, c.PollInterval)
	}
	return nil
}

// Watcher keeps the current policy of a file, reloading it when the file changes or on SIGHUP. A failed
// reload keeps the old policy in force and reports the error.
type Watcher struct {
	cfg       WatcherConfig
	cur       atomic.Pointer[Policy]
	mu        sync.Mutex    // serialises reloads
	ready     chan struct{} // closed once Run is watching (tests wait for it before signalling)
	readyOnce sync.Once
}

// NewWatcher validates cfg and loads the policy at cfg.Path; it fails if that first load fails (a gateway
// must not start without a policy). Call Run to start watching.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 200 * time.Millisecond
	}
	p, err := Load(cfg.Path)
	if err != nil {
		return nil, err
	}
	w := &Watcher{cfg: cfg, ready: make(chan struct{})}
	w.cur.Store(p)
	return w, nil
}

// Current returns the policy in force. Take it once per statement (or session) and use that value.
func (w *Watcher) Current() *Policy { return w.cur.Load() }

// Reload re-reads the file now and reports the attempt (trigger "manual"), also to OnReload.
func (w *Watcher) Reload() Reload { return w.reload(TriggerManual, true) }

func (w *Watcher) reload(trigger string, always bool) Reload {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.cur.Load()
	r := Reload{Policy: prev, Previous: prev, Trigger: trigger}
	p, err := Load(w.cfg.Path)
	switch {
	case err != nil:
		r.Err = err
	case p.Hash() != prev.Hash():
		w.cur.Store(p)
		r.Policy, r.Changed = p, true
	case !always:
		return r // a file event that did not change the bytes (touch, chmod): nothing to report
	}
	if w.cfg.OnReload != nil {
		w.cfg.OnReload(r)
	}
	return r
}

// Run watches until ctx is done. It returns nil when ctx ends, or an error if it cannot watch at all.
func (w *Watcher) Run(ctx context.Context) error {
	var sig chan os.Signal
	if w.cfg.Signal {
		sig = make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP)
		defer signal.Stop(sig)
	}
	var events chan fsnotify.Event
	var errs chan error
	poll := w.cfg.PollInterval
	fw, err := fsnotify.NewWatcher()
	if err == nil {
		err = fw.Add(filepath.Dir(w.cfg.Path))
	}
	if err != nil {
		if fw != nil {
			fw.Close()
		}
		if poll <= 0 {
			poll = 2 * time.Second
		}
	} else {
		defer fw.Close()
		events, errs = fw.Events, fw.Errors
	}
	var tick <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		tick = t.C
	}
	base := filepath.Base(w.cfg.Path)
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	w.readyOnce.Do(func() { close(w.ready) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// The file itself, or a ConfigMap's "..data" symlink swap.
			if name := filepath.Base(ev.Name); name == base || name == "..data" {
				debounce.Reset(w.cfg.Debounce)
			}
		case <-errs:
			// Overflow or similar: re-read to be sure we did not miss a change.
			debounce.Reset(w.cfg.Debounce)
		case <-debounce.C:
			w.reload(TriggerFile, false)
		case <-tick:
			w.reload(TriggerFile, false)
		case <-sig:
			w.reload(TriggerSignal, true)
		}
	}
}
