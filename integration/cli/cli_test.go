// Package cli runs the four binaries as an operator does and checks their exit status and messages: one
// convention for all (0 success and -h, 2 usage or configuration error printed as text naming the setting,
// 1 runtime failure), and ClickHouse refusals that name the credential or database to fix (issue 15).
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pangate/pangate/integration/stack"
)

// bin is the binary of service name (gateway, approver, indexer, reporter), built once per test process.
func bin(t *testing.T, name string) string {
	t.Helper()
	return stack.Binary(t, "./"+name)
}

// exec runs a binary with only the given environment (no ambient PANGATE_ variable) and returns its exit
// status and stderr.
func run(t *testing.T, env []string, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin(t, name), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("%s %v: %v", name, args, err)
	return 0, ""
}

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// notJSON fails when a message meant for a person came as a JSON log line (with \n escapes).
func notJSON(t *testing.T, stderr string) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "{") {
			t.Errorf("stderr holds a JSON line, want text: %q", line)
		}
	}
}

// TestExitCodes: `approver -h` exited 1 with "flag: help requested", the reporter exited 1 on a missing
// config file although 2 is documented, the gateway printed configuration errors as one JSON line.
func TestExitCodes(t *testing.T) {
	bad := write(t, "bad.yaml", "nonsense_key: 1\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	cases := []struct {
		name string
		bin  string
		args []string
		code int
		want string // in stderr
	}{
		{"gateway help", "gateway", []string{"-h"}, 0, ""},
		{"gateway run help", "gateway", []string{"run", "-h"}, 0, "-config"},
		{"approver help", "approver", []string{"-h"}, 0, "-config"},
		{"approver decide help", "approver", []string{"decide", "-h"}, 0, "-approve"},
		{"approver help command", "approver", []string{"help"}, 0, ""},
		{"indexer help", "indexer", []string{"-h"}, 0, "-migrate-only"},
		{"reporter help", "reporter", []string{"-h"}, 0, ""},
		{"reporter generate help", "reporter", []string{"generate", "-h"}, 0, "-period"},

		{"gateway missing config", "gateway", []string{"run", "-config", missing}, 2, "missing.yaml"},
		{"approver missing config", "approver", []string{"serve", "-config", missing}, 2, "missing.yaml"},
		{"indexer missing config", "indexer", []string{"-config", missing}, 2, "missing.yaml"},
		{"reporter missing config", "reporter", []string{"generate", "-config", missing, "-from", "2026-10-01"}, 2, "missing.yaml"},
		{"reporter transcript missing config", "reporter", []string{"transcript", "-config", missing, "-session", "s"}, 2, "missing.yaml"},

		{"gateway bad config", "gateway", []string{"run", "-config", bad}, 2, "nonsense_key"},
		{"approver bad config", "approver", []string{"serve", "-config", bad}, 2, "nonsense_key"},
		{"indexer bad config", "indexer", []string{"-config", bad}, 2, "nonsense_key"},
		{"reporter bad config", "reporter", []string{"generate", "-config", bad, "-from", "2026-10-01"}, 2, "nonsense_key"},

		{"gateway unknown command", "gateway", []string{"serve"}, 2, "usage"},
		{"approver unknown command", "approver", []string{"bogus"}, 2, "unknown command"},
		{"approver bad flag", "approver", []string{"serve", "-bogus"}, 2, "bogus"},
		{"indexer bad flag", "indexer", []string{"-bogus"}, 2, "bogus"},
		{"reporter bad flag", "reporter", []string{"generate", "-bogus"}, 2, "bogus"},

		{"gateway keygen into a missing directory", "gateway", []string{"keygen", "-out", filepath.Join(missing, "k.pem")}, 1, "k.pem"},
		{"approver keygen into a missing directory", "approver", []string{"keygen", "-out", filepath.Join(missing, "k.pem")}, 1, "k.pem"},
		{"reporter keygen into a missing directory", "reporter", []string{"keygen", "-out", filepath.Join(missing, "k")}, 1, "k.key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := run(t, nil, tc.bin, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
			if strings.Contains(stderr, "help requested") {
				t.Errorf("stderr says %q", stderr)
			}
			notJSON(t, stderr)
		})
	}
}

// TestGatewayConfigErrorsAreText: several mistakes print one per line, not one JSON line with \n escapes.
func TestGatewayConfigErrorsAreText(t *testing.T) {
	cfg := write(t, "gateway.yaml", "listen: 127.0.0.1:0\ntargets: []\nkafka: {brokers: []}\n")
	code, stderr := run(t, nil, "gateway", "run", "-config", cfg)
	if code != 2 {
		t.Fatalf("exit %d, want 2:\n%s", code, stderr)
	}
	notJSON(t, stderr)
	if !strings.HasPrefix(stderr, "gateway: configuration error: ") || strings.Contains(stderr, `\n`) {
		t.Fatalf("not plain text:\n%s", stderr)
	}
}

// TestClickHouseRefusalsNameTheSetting: the reporter called a wrong password "ClickHouse unreachable … check
// that clickhouse-server runs"; the indexer retried a database its user may not use forever with
// "read: EOF", and without a migrate password said "Password required for user operator".
func TestClickHouseRefusalsNameTheSetting(t *testing.T) {
	env := stack.Env(t)
	db := fmt.Sprintf("h17a_cli_%d", time.Now().UnixNano()%1e9)
	op, err := clickhouse.Open(&clickhouse.Options{Addr: []string{env.ClickHouseAddr},
		Auth: clickhouse.Auth{Database: "default", Username: env.ClickHouseUser, Password: env.ClickHousePassword}})
	if err != nil {
		t.Fatal(err)
	}
	// The connection is closed by the cleanup, after the drops (a deferred Close ran first and left every
	// run's databases behind).
	t.Cleanup(func() {
		defer op.Close()
		for _, d := range []string{db, db + "_ingest"} {
			if err := op.Exec(context.Background(), "DROP DATABASE IF EXISTS "+d); err != nil {
				t.Errorf("drop ClickHouse database %s: %v", d, err)
			}
		}
	})
	reporterCfg := write(t, "reporter.yaml", fmt.Sprintf("clickhouse: {addr: %q, database: pangate, user: reporter}\n", env.ClickHouseAddr))
	cases := []struct {
		name  string
		env   []string
		bin   string
		args  []string
		wants []string
	}{
		{"reporter wrong password", []string{"PANGATE_REPORTER_CLICKHOUSE_PASSWORD=wrong-h17a"}, "reporter",
			[]string{"transcript", "-config", reporterCfg, "-session", "s"}, []string{"PANGATE_REPORTER_CLICKHOUSE_PASSWORD", "193"}},
		{"reporter forbidden database", []string{"PANGATE_REPORTER_CLICKHOUSE_PASSWORD=" + env.ClickHouseReporterPassword, "PANGATE_REPORTER_DATABASE=pangate_querylog"}, "reporter",
			[]string{"transcript", "-config", reporterCfg, "-session", "s"}, []string{"PANGATE_REPORTER_DATABASE", "291"}},
		{"indexer without migrate password", indexerEnv(env, db, "", env.ClickHouseIndexerPassword), "indexer", nil,
			[]string{"PANGATE_INDEXER_MIGRATE_PASSWORD", "194"}},
		{"indexer forbidden database", indexerEnv(env, db, env.ClickHousePassword, env.ClickHouseIndexerPassword), "indexer", nil,
			[]string{"PANGATE_INDEXER_DATABASE", db + "_ingest", "291"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, stderr := run(t, tc.env, tc.bin, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d after %s, want 2; stderr:\n%s", code, time.Since(start).Round(time.Millisecond), stderr)
			}
			last := lastLine(stderr)
			for _, w := range tc.wants {
				if !strings.Contains(last, w) {
					t.Errorf("message lacks %q: %s", w, last)
				}
			}
			if strings.Contains(stderr, "clickhouse-server runs") || strings.Contains(stderr, "wrong-h17a") {
				t.Errorf("misleading or leaking message:\n%s", stderr)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("took %s: a refusal must not be retried", d)
			}
		})
	}
}

// indexerEnv configures the indexer into db, which the stack's indexer user may not use (it may use
// pangate_ingest only).
func indexerEnv(env stack.Endpoints, db, migratePassword, indexerPassword string) []string {
	return []string{
		"PANGATE_INDEXER_KAFKA_BROKERS=" + strings.Join(env.KafkaBrokers, ","),
		"PANGATE_INDEXER_CLICKHOUSE_ADDRS=" + env.ClickHouseAddr,
		"PANGATE_INDEXER_DATABASE=" + db,
		"PANGATE_INDEXER_CLICKHOUSE_USER=" + stack.ClickHouseIndexer,
		"PANGATE_INDEXER_CLICKHOUSE_PASSWORD=" + indexerPassword,
		"PANGATE_INDEXER_MIGRATE_USER=" + env.ClickHouseUser,
		"PANGATE_INDEXER_MIGRATE_PASSWORD=" + migratePassword,
		"PANGATE_INDEXER_LISTEN=127.0.0.1:0",
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
