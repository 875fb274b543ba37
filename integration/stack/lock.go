package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	gate    *os.File       // turnstile: a waiting stopper keeps new users out
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
	gate, err := os.OpenFile(filepath.Join(dir, service+".gate"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	l := &useLock{service: service, f: f, gate: gate, shared: map[string]int{}}
	l.cond = sync.NewCond(&l.mu)
	locks[service] = l
	return l
}

// related reports whether two test names are the same test or one is a
// subtest of the other.
func related(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

func flockFile(t testing.TB, f *os.File, how int) {
	t.Helper()
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("stack: lock %s: %v", f.Name(), err)
		}
		return
	}
}

func (l *useLock) flock(t testing.TB, how int) {
	t.Helper()
	flockFile(t, l.f, how)
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
		// Through the gate, so a stopper waiting in another process is not
		// starved by a stream of new users (writer preference). The wait at the
		// gate is bounded: a test of this process may hold another service that
		// the waiting stopper's process needs, and the two must not deadlock.
		gated := tryFlock(t, l.gate, syscall.LOCK_SH, gateWait)
		l.flock(t, syscall.LOCK_SH)
		if gated {
			flockFile(t, l.gate, syscall.LOCK_UN)
		}
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
	// Drop our own shared lock before queueing at the gate: a process that
	// holds the gate and waits for the exclusive lock must not wait for us.
	if l.mode != 0 {
		l.flock(t, syscall.LOCK_UN)
	}
	if syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		t.Logf("stack: waiting for tests in other packages that use %s before stopping it (%s)", service, l.holders())
		// Another stopper may hold the gate for its whole wait; queue behind it
		// for a while, then wait without the gate's protection.
		gated := tryFlock(t, l.gate, syscall.LOCK_EX, time.Minute)
		if !tryFlock(t, l.f, syscall.LOCK_EX, stopWait) {
			who := l.holders()
			if gated {
				flockFile(t, l.gate, syscall.LOCK_UN)
			}
			l.pending = ""
			if len(l.shared) > 0 {
				l.flock(t, syscall.LOCK_SH)
			}
			l.cond.Broadcast()
			l.mu.Unlock()
			t.Fatalf("stack: could not take %s exclusively within %s; still used by: %s", service, stopWait, who)
		}
		if gated {
			flockFile(t, l.gate, syscall.LOCK_UN)
		}
	}
	l.mode = syscall.LOCK_EX
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

// How long a new user waits at the gate for a waiting stopper, and how long
// a stopper waits for the users (a deadlock between two test processes that
// each hold a service the other wants to stop ends in a failure that names
// the holders, well before go test's timeout).
const (
	gateWait = 2 * time.Minute
	stopWait = 8 * time.Minute
)

// tryFlock polls a non-blocking flock until it succeeds or wait passes.
func tryFlock(t testing.TB, f *os.File, how int, wait time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return true
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			t.Fatalf("stack: lock %s: %v", f.Name(), err)
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// holders names the processes that hold the service's lock file, from
// /proc/locks, for messages about waiting.
func (l *useLock) holders() string {
	fi, err := l.f.Stat()
	if err != nil {
		return "unknown"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "unknown"
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return "unknown"
	}
	suffix := ":" + strconv.FormatUint(st.Ino, 10)
	var out []string
	for _, line := range strings.Split(string(locks), "\n") {
		f := strings.Fields(line)
		// 1: FLOCK  ADVISORY  READ 10965 fe:00:5317644 0 EOF
		if len(f) < 6 || f[1] != "FLOCK" || !strings.HasSuffix(f[5], suffix) {
			continue
		}
		pid, _ := strconv.Atoi(f[4])
		if pid == os.Getpid() {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + f[4] + "/cmdline")
		name := strings.SplitN(string(cmd), "\x00", 2)[0]
		out = append(out, fmt.Sprintf("pid %d %s (%s)", pid, filepath.Base(name), strings.ToLower(f[3])))
	}
	if len(out) == 0 {
		return "no other process"
	}
	return strings.Join(out, ", ")
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
