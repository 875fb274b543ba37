package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// postgres is Debian's PostgreSQL 15 with its own cluster in .stack/pg, run as
// the postgres system user (the server refuses to run as root).
type postgres struct{}

const pgBin = "/usr/lib/postgresql/15/bin"

func (*postgres) name() string          { return "postgres" }
func (*postgres) endpoint() string      { return fmt.Sprintf("%s:%d", host, pgPort) }
func (*postgres) aptPackages() []string { return []string{"postgresql-15", "postgresql-client-15"} }

func (*postgres) installed(*stack) bool {
	return fileExists(filepath.Join(pgBin, "initdb")) && fileExists(filepath.Join(pgBin, "pg_isready"))
}

func (p *postgres) install(context.Context, *stack) error {
	if !p.installed(nil) {
		return fmt.Errorf("postgres: %s/initdb missing after apt-get install postgresql-15", pgBin)
	}
	return nil
}

func (s *stack) pgSocketDir() string { return s.path("pg", "run") }

func (p *postgres) dirs(ctx context.Context, s *stack) (data string, err error) {
	base, err := s.serviceDir(ctx, "pg", "postgres")
	if err != nil {
		return "", err
	}
	if err := ownDir(base, "postgres"); err != nil {
		return "", err
	}
	return filepath.Join(base, "data"), nil
}

func (p *postgres) start(ctx context.Context, s *stack) error {
	data, err := p.dirs(ctx, s)
	if err != nil {
		return err
	}
	base := filepath.Dir(data)
	if !fileExists(filepath.Join(data, "PG_VERSION")) {
		if err := p.initdb(ctx, s, base, data); err != nil {
			return err
		}
	}
	if _, err := ensurePGTLS(s.pgCAFile(), data); err != nil {
		return err
	}
	if _, err := ensurePGHBA(data); err != nil {
		return err
	}
	if err := ownDir(filepath.Join(base, "run"), "postgres"); err != nil {
		return err
	}
	// A crash leaves postmaster.pid behind; pg_ctl copes with a stale one.
	return s.run(ctx, "postgres", nil, asUser("postgres",
		filepath.Join(pgBin, "pg_ctl"), "-D", data, "-l", filepath.Join(base, "postgres.log"),
		"-w", "-t", "120", "start")...)
}

func (p *postgres) initdb(ctx context.Context, s *stack, base, data string) error {
	pwfile := filepath.Join(base, ".pwfile")
	if err := os.WriteFile(pwfile, []byte(s.secrets["PG_PASSWORD"]+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := chownTo(pwfile, "postgres"); err != nil {
		return err
	}
	_ = os.RemoveAll(data)
	if err := s.run(ctx, "postgres", nil, asUser("postgres",
		filepath.Join(pgBin, "initdb"), "-D", data, "-U", "postgres", "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")...); err != nil {
		return err
	}
	// Test settings: loopback only, our port and socket, enough connections for
	// parallel test packages and JIT roles; durability traded for speed.
	conf := strings.Join([]string{
		"",
		"# pangate local stack",
		"listen_addresses = '" + host + "'",
		fmt.Sprintf("port = %d", pgPort),
		"unix_socket_directories = '" + s.pgSocketDir() + "'",
		"max_connections = 300",
		"shared_buffers = 128MB",
		"fsync = off",
		"synchronous_commit = off",
		"full_page_writes = off",
		"log_timezone = 'UTC'",
		"timezone = 'UTC'",
		"",
	}, "\n")
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(conf)
	return err
}

// afterReady brings a cluster made before TLS up to date: it writes the
// certificates and settings if missing and reloads the server (ssl and its
// files are reloadable, so no restart), but only a server running from our
// own data directory. It then checks, on every up, that a verify-full
// connection with the CA works and really uses TLS.
func (p *postgres) afterReady(ctx context.Context, s *stack) error {
	data, err := p.dirs(ctx, s)
	if err != nil {
		return err
	}
	changed, err := ensurePGTLS(s.pgCAFile(), data)
	if err != nil {
		return err
	}
	hbaChanged, err := ensurePGHBA(data)
	if err != nil {
		return err
	}
	if changed || hbaChanged {
		if !fileExists(filepath.Join(data, "postmaster.pid")) {
			return fmt.Errorf("TLS or pg_hba settings written to %s, but the server at %s does not run from it: restart it", data, p.endpoint())
		}
		s.logf("postgres: TLS or JIT pg_hba rules added, reloading the server")
		if err := s.run(ctx, "postgres", nil, asUser("postgres",
			filepath.Join(pgBin, "pg_ctl"), "-D", data, "reload")...); err != nil {
			return err
		}
	}
	// A reload is asynchronous: poll until a TLS session succeeds.
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := p.checkTLS(ctx, s)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("TLS check: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// checkTLS connects with sslmode=verify-full and the stack's CA, and asks the
// server whether this session is encrypted.
func (p *postgres) checkTLS(ctx context.Context, s *stack) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn := fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=verify-full sslrootcert=%s connect_timeout=5",
		host, pgPort, s.pgCAFile())
	cmd := exec.CommandContext(ctx, filepath.Join(pgBin, "psql"), conn, "-XAtc",
		"SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+s.secrets["PG_PASSWORD"])
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("psql: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if got := strings.TrimSpace(string(out)); got != "t" {
		return fmt.Errorf("pg_stat_ssl.ssl = %q for a verify-full session, want t", got)
	}
	return nil
}

func (p *postgres) stop(ctx context.Context, s *stack) error {
	data := s.path("pg", "data")
	if !fileExists(filepath.Join(data, "postmaster.pid")) {
		s.logf("postgres was not running")
		return nil
	}
	return s.run(ctx, "postgres", nil, asUser("postgres",
		filepath.Join(pgBin, "pg_ctl"), "-D", data, "-m", "fast", "-w", "-t", "60", "stop")...)
}

func (p *postgres) ready(ctx context.Context, s *stack) error {
	out, err := exec.CommandContext(ctx, filepath.Join(pgBin, "pg_isready"),
		"-h", host, "-p", fmt.Sprint(pgPort), "-U", "postgres", "-d", "postgres", "-t", "3").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_isready: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// pgHBAMarker heads the JIT block of pg_hba.conf; its presence means the block was written.
const pgHBAMarker = "# pangate local stack: JIT roles only from the gateway"

// GatewaySource is the loopback address the stack's gateways bind their upstream connections to
// (targets[].source_address); integration/stack.GatewaySource must say the same.
const GatewaySource = "127.0.0.2"

// pgHBAJIT are the rules that admit members of the JIT marker group (gateway/jit.DefaultGroup) only from
// the gateway's source address, by password (the JIT role's generated one), and nobody else: not over
// another address, not over the Unix socket (which the stack otherwise trusts). They must come before
// every other rule: pg_hba.conf is first match. docs/deploy.md gives the production equivalent.
var pgHBAJIT = []string{
	pgHBAMarker,
	"host    all    +pangate_jit    " + GatewaySource + "/32    scram-sha-256",
	"host    all    +pangate_jit    0.0.0.0/0       reject",
	"host    all    +pangate_jit    ::/0            reject",
	"local   all    +pangate_jit                    reject",
	"",
}

// ensurePGHBA puts the JIT rules at the top of pg_hba.conf in data, for a new cluster and for one made
// before them alike. It is idempotent and reports whether it changed the file (a running server must
// reload; pg_hba.conf is reloadable).
func ensurePGHBA(data string) (bool, error) {
	path := filepath.Join(data, "pg_hba.conf")
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	if strings.Contains(string(b), pgHBAMarker) {
		return false, nil
	}
	if err := writeAtomic(path, []byte(strings.Join(pgHBAJIT, "\n")+"\n"+string(b)), 0o600); err != nil {
		return false, err
	}
	// The server runs as postgres and must still read the file it reloads.
	return true, chownTo(path, "postgres")
}
