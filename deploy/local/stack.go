package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pangate/pangate/internal/gobuild"
)

// Ports: loopback only, and none of the services' defaults, so the stack
// coexists with a machine's own PostgreSQL, Kafka or ClickHouse.
const (
	host                = "127.0.0.1"
	pgPort              = 15432
	kafkaPort           = 19092
	kafkaControllerPort = 19093
	chNativePort        = 19000
	chHTTPPort          = 18123
	chInterserverPort   = 19009
	s3Port              = 17070
	s3Region            = "us-east-1"
)

// A service is one process of the stack.
type service interface {
	name() string
	// install makes the service's software present; it runs only when
	// installed reports false, and may use the apt batch.
	installed(s *stack) bool
	install(ctx context.Context, s *stack) error
	// start launches the process (the caller has checked it does not answer)
	// and returns without waiting for readiness.
	start(ctx context.Context, s *stack) error
	stop(ctx context.Context, s *stack) error
	// ready does one real round trip with the service.
	ready(ctx context.Context, s *stack) error
	endpoint() string
}

type stack struct {
	root    string // module root
	dir     string // root/.stack
	quiet   bool
	secrets map[string]string

	logMu sync.Mutex
}

func newStack() (*stack, error) {
	root, err := gobuild.ModuleRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, ".stack")
	if d := os.Getenv("PANGATE_STACK_DIR"); d != "" {
		dir = d
	}
	return &stack{root: root, dir: dir, quiet: os.Getenv("PANGATE_STACK_QUIET") != ""}, nil
}

func (s *stack) path(parts ...string) string {
	return filepath.Join(append([]string{s.dir}, parts...)...)
}

func (s *stack) logf(format string, args ...any) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	fmt.Fprintf(os.Stderr, "stack: "+format+"\n", args...)
}

var allServices = []service{&postgres{}, &kafka{}, &clickHouse{}, &s3{}}

// profileServices are started only when named (up chcluster): optional profiles such as the replicated
// ClickHouse (chcluster.go), which register themselves from their own files.
var profileServices []service

func selectServices(names []string) ([]service, error) {
	if len(names) == 0 {
		return allServices, nil
	}
	var out []service
	for _, n := range names {
		found := false
		for _, sv := range append(allServices[:len(allServices):len(allServices)], profileServices...) {
			if sv.name() == n {
				out = append(out, sv)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown service %q (want postgres, kafka, clickhouse, s3 or a profile: %s)", n, profileNames())
		}
	}
	return out, nil
}

func profileNames() string {
	var names []string
	for _, sv := range profileServices {
		names = append(names, sv.name())
	}
	return strings.Join(names, ", ")
}

// lock serialises up and down runs of this tool (other engineers' shells,
// tests stopping Kafka) on one machine.
func (s *stack) lock() (func(), error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(s.path("stack.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		s.logf("waiting for another run of the stack tool (%s)", s.path("stack.lock"))
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, err
		}
	}
	return func() { f.Close() }, nil
}

func (s *stack) up(ctx context.Context, names []string) error {
	svcs, err := selectServices(names)
	if err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	began := time.Now()
	for _, d := range []string{"logs", "run"} {
		if err := os.MkdirAll(s.path(d), 0o755); err != nil {
			return err
		}
	}
	if err := s.loadSecrets(); err != nil {
		return err
	}
	if err := s.writeEnv(); err != nil {
		return err
	}

	// Each service is installed if missing and then started, in parallel: one
	// shared apt-get run for the Debian packages, Maven for Kafka and go install
	// for versitygw overlap, and a service starts as soon as its own install is
	// done.
	inst := s.newInstaller(svcs)
	errs := make([]error, len(svcs))
	var wg sync.WaitGroup
	for i, sv := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := inst.ensure(ctx, sv); err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.ensureRunning(ctx, sv)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if !s.quiet {
		s.logf("up in %s", time.Since(began).Round(100*time.Millisecond))
		return s.printEnv(os.Stdout)
	}
	return nil
}

// afterReadier is implemented by services with setup to do once they answer
// (idempotent, run on every up).
type afterReadier interface {
	afterReady(ctx context.Context, s *stack) error
}

func (s *stack) ensureRunning(ctx context.Context, sv service) error {
	if err := s.startIfDown(ctx, sv); err != nil {
		return err
	}
	if a, ok := sv.(afterReadier); ok {
		if err := a.afterReady(ctx, s); err != nil {
			return fmt.Errorf("%s: setup after start: %w", sv.name(), err)
		}
	}
	return nil
}

func (s *stack) startIfDown(ctx context.Context, sv service) error {
	if err := probe(ctx, s, sv, 3*time.Second); err == nil {
		s.logf("%s already running at %s", sv.name(), sv.endpoint())
		return nil
	}
	began := time.Now()
	s.logf("starting %s", sv.name())
	if err := sv.start(ctx, s); err != nil {
		return fmt.Errorf("start %s: %w (log: %s)", sv.name(), err, s.logFile(sv.name()))
	}
	if err := s.waitReady(ctx, sv, 3*time.Minute); err != nil {
		return err
	}
	s.logf("%s ready at %s in %s", sv.name(), sv.endpoint(), time.Since(began).Round(100*time.Millisecond))
	return nil
}

func probe(ctx context.Context, s *stack, sv service, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return sv.ready(ctx, s)
}

func (s *stack) waitReady(ctx context.Context, sv service, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = probe(ctx, s, sv, 5*time.Second); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become ready within %s: %v (log: %s)", sv.name(), timeout, last, s.logFile(sv.name()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (s *stack) down(ctx context.Context, names []string) error {
	svcs, err := selectServices(names)
	if err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for i := len(svcs) - 1; i >= 0; i-- {
		sv := svcs[i]
		if err := sv.stop(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", sv.name(), err))
			continue
		}
		s.logf("%s stopped", sv.name())
	}
	return errors.Join(errs...)
}

func (s *stack) status(ctx context.Context, names []string) error {
	svcs, err := selectServices(names)
	if err != nil {
		return err
	}
	if err := s.loadSecretsIfPresent(); err != nil {
		return err
	}
	bad := 0
	for _, sv := range svcs {
		state := "healthy"
		detail := ""
		if s.secrets == nil {
			state, detail = "unhealthy", " (never started: run go tool task up)"
		} else if err := probe(ctx, s, sv, 5*time.Second); err != nil {
			state, detail = "unhealthy", " ("+oneLine(err.Error())+")"
		}
		if state != "healthy" {
			bad++
		}
		fmt.Printf("%-10s %-9s %s%s\n", sv.name(), state, sv.endpoint(), detail)
	}
	if bad > 0 {
		return fmt.Errorf("%d service(s) not healthy; start them with: go tool task up", bad)
	}
	return nil
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (s *stack) logFile(name string) string { return s.path("logs", name+".log") }

// Secrets are generated once per stack and kept in .stack/secrets.env, so a
// restart keeps the passwords that data directories were created with.
var secretNames = []string{
	"PG_PASSWORD", "CH_OPERATOR_PASSWORD", "CH_INDEXER_PASSWORD", "CH_AUDITOR_PASSWORD",
	"CH_REPORTER_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY",
}

func (s *stack) loadSecretsIfPresent() error {
	if _, err := os.Stat(s.path("secrets.env")); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return s.loadSecrets()
}

func (s *stack) loadSecrets() error {
	file := s.path("secrets.env")
	vals, err := readKV(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	changed := false
	for _, n := range secretNames {
		if vals[n] == "" {
			var b [16]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			vals[n] = hex.EncodeToString(b[:])
			changed = true
		}
	}
	s.secrets = vals
	if changed {
		return writeKV(file, vals, 0o600)
	}
	return nil
}

func (s *stack) env() map[string]string {
	sec := s.secrets
	return map[string]string{
		"PANGATE_PG_HOST":                      host,
		"PANGATE_PG_PORT":                      fmt.Sprint(pgPort),
		"PANGATE_PG_ADMIN_DSN":                 fmt.Sprintf("postgres://postgres:%s@%s:%d/postgres?sslmode=disable", sec["PG_PASSWORD"], host, pgPort),
		"PANGATE_PG_SOCKET_DIR":                s.pgSocketDir(),
		"PANGATE_PG_CA_FILE":                   s.pgCAFile(),
		"PANGATE_KAFKA_BROKERS":                fmt.Sprintf("%s:%d", host, kafkaPort),
		"PANGATE_CLICKHOUSE_ADDR":              fmt.Sprintf("%s:%d", host, chNativePort),
		"PANGATE_CLICKHOUSE_HTTP_ADDR":         fmt.Sprintf("%s:%d", host, chHTTPPort),
		"PANGATE_CLICKHOUSE_USER":              "operator",
		"PANGATE_CLICKHOUSE_PASSWORD":          sec["CH_OPERATOR_PASSWORD"],
		"PANGATE_CLICKHOUSE_INDEXER_PASSWORD":  sec["CH_INDEXER_PASSWORD"],
		"PANGATE_CLICKHOUSE_AUDITOR_PASSWORD":  sec["CH_AUDITOR_PASSWORD"],
		"PANGATE_CLICKHOUSE_REPORTER_PASSWORD": sec["CH_REPORTER_PASSWORD"],
		"PANGATE_S3_ENDPOINT":                  fmt.Sprintf("%s:%d", host, s3Port),
		"PANGATE_S3_ACCESS_KEY":                sec["S3_ACCESS_KEY"],
		"PANGATE_S3_SECRET_KEY":                sec["S3_SECRET_KEY"],
		"PANGATE_S3_REGION":                    s3Region,
	}
}

func (s *stack) writeEnv() error {
	return writeKV(s.path("env"), s.env(), 0o600)
}

func (s *stack) printEnv(w io.Writer) error {
	if s.secrets == nil {
		if err := s.loadSecretsIfPresent(); err != nil {
			return err
		}
		if s.secrets == nil {
			return errors.New("the stack has never been started: run go tool task up")
		}
	}
	return writeKVTo(w, s.env())
}

func readKV(file string) (map[string]string, error) {
	vals := map[string]string{}
	f, err := os.Open(file)
	if err != nil {
		return vals, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			vals[k] = v
		}
	}
	return vals, sc.Err()
}

// writeKV replaces file atomically, so a reader never sees half of it.
func writeKV(file string, vals map[string]string, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-"+filepath.Base(file))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := writeKVTo(tmp, vals); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}

// writeKVTo writes sorted KEY=value lines; values never need quoting (hex
// secrets, addresses, a DSN without spaces or &), so the file can be sourced.
func writeKVTo(w io.Writer, vals map[string]string) error {
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, err := fmt.Fprintf(w, "%s=%s\n", k, vals[k]); err != nil {
			return err
		}
	}
	return nil
}
