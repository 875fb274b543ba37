package stack

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Services that tests may stop; the names are those of the stack tool.
const (
	kafkaService      = "kafka"
	clickHouseService = "clickhouse"
)

// A useLock coordinates tests that use a service with tests that stop it.
//
// Across test processes it is a flock(2) on .stack/locks/<service>.lock:
// shared while any test of this process holds the service, exclusive while a
// test of this process has stopped it. Within the process, holders are counted
// per test name, and a test's own subtests and parents count as itself, so a
// test may hold Kafka and then stop it.
type useLock struct {
	service string

	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File
	mode    int            // 0, syscall.LOCK_SH or syscall.LOCK_EX on f
	shared  map[string]int // test name -> holds
	owner   string         // test holding the service exclusively, "" if none
	pending string         // test waiting to hold it exclusively, "" if none
}

var (
	locksMu sync.Mutex
	locks   = map[string]*useLock{}
)

func lockFor(t testing.TB, service string) *useLock {
	t.Helper()
	locksMu.Lock()
	defer locksMu.Unlock()
	if l, ok := locks[service]; ok {
		return l
	}
	root, err := ModuleRoot()
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	dir := filepath.Join(root, ".stack", "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("stack: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, service+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	l := &useLock{service: service, f: f, shared: map[string]int{}}
	l.cond = sync.NewCond(&l.mu)
	locks[service] = l
	return l
}

// related reports whether two test names are the same test or one is a
// subtest of the other.
func related(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

func (l *useLock) flock(t testing.TB, how int) {
	t.Helper()
	for {
		err := syscall.Flock(int(l.f.Fd()), how)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("stack: lock %s: %v", l.f.Name(), err)
		}
		break
	}
	if how == syscall.LOCK_UN {
		l.mode = 0
	} else {
		l.mode = how
	}
}

// hold makes t a user of service until t ends: it waits while another test
// has the service stopped.
func hold(t testing.TB, service string) {
	t.Helper()
	l := lockFor(t, service)
	name := t.Name()
	l.mu.Lock()
	defer l.mu.Unlock()
	for (l.owner != "" && !related(l.owner, name)) || (l.pending != "" && !related(l.pending, name)) {
		l.cond.Wait()
	}
	if l.mode == 0 {
		l.flock(t, syscall.LOCK_SH)
		l.healLeftover(t)
	}
	l.shared[name]++
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.shared[name]--; l.shared[name] <= 0 {
			delete(l.shared, name)
		}
		if len(l.shared) == 0 && l.owner == "" && l.mode != 0 {
			l.flock(t, syscall.LOCK_UN)
		}
		l.cond.Broadcast()
	})
}

// holdExclusive makes t the only user of service until t ends, waiting for
// other users in this and other processes to finish. At cleanup it calls
// restore (which starts the service again) before letting others in.
func holdExclusive(t testing.TB, service string, restore func()) {
	t.Helper()
	l := lockFor(t, service)
	name := t.Name()
	l.mu.Lock()
	if l.owner != "" && related(l.owner, name) {
		l.mu.Unlock()
		return // already exclusive, e.g. a second stop in the same test
	}
	for l.owner != "" || (l.pending != "" && !related(l.pending, name)) {
		l.cond.Wait()
	}
	l.pending = name
	if l.unrelatedHolders(name) {
		t.Logf("stack: waiting for the other tests of this package that use %s before stopping it", service)
	}
	for l.unrelatedHolders(name) {
		l.cond.Wait()
	}
	if err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Logf("stack: waiting for tests in other packages that use %s before stopping it", service)
	}
	// Converting a flock is not atomic: the shared lock is dropped first, so two
	// processes converting at once cannot deadlock; one waits for the other.
	l.flock(t, syscall.LOCK_EX)
	l.owner, l.pending = name, ""
	// The marker outlives a test process that dies (a panic, go test's
	// timeout) before its cleanup restarted the service; see healLeftover.
	if err := os.WriteFile(l.markerFile(), []byte(name+"\n"), 0o644); err != nil {
		l.mu.Unlock()
		t.Fatalf("stack: %v", err)
	}
	l.mu.Unlock()
	t.Cleanup(func() {
		// Deferred so that a failing restore (t.Fatalf runs Goexit) still lets
		// the other tests in; they then fail fast on the stopped service.
		defer func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.owner = ""
			if len(l.shared) > 0 {
				l.flock(t, syscall.LOCK_SH)
			} else {
				l.flock(t, syscall.LOCK_UN)
			}
			l.cond.Broadcast()
		}()
		restore()
		_ = os.Remove(l.markerFile())
	})
}

// markerFile exists while a test has the service stopped.
func (l *useLock) markerFile() string { return l.f.Name() + ".stopped" }

// healLeftover restarts the service if a test stopped it and its process died
// before restoring it. We hold the shared lock, so no live test has it stopped:
// a marker left now is a leftover, and one failed test must not fail every
// package after it. The caller holds l.mu.
func (l *useLock) healLeftover(t testing.TB) {
	t.Helper()
	who, err := os.ReadFile(l.markerFile())
	if err != nil {
		return
	}
	t.Logf("stack: %s was left stopped by %s; starting it again", l.service, strings.TrimSpace(string(who)))
	runTool(t, "up", l.service)
	_ = os.Remove(l.markerFile())
}

func (l *useLock) unrelatedHolders(name string) bool {
	for holder := range l.shared {
		if !related(holder, name) {
			return true
		}
	}
	return false
}
