package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	chddl "github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/internal/auditstore/migrate"
)

// clickHouse is Debian's clickhouse-server 18.16 with its own config, ports
// and directories, run as the clickhouse system user. The package's init
// script is never used: its stop kills every clickhouse-server on the machine.
type clickHouse struct{}

var (
	//go:embed clickhouse/config.xml
	chConfigXML string
	//go:embed clickhouse/users.xml
	chUsersXML string
)

// chDatabase is created by up, so the restricted users (who may use only this
// database) can connect before the indexer's first migration.
const chDatabase = "pangate"

func (*clickHouse) name() string          { return "clickhouse" }
func (*clickHouse) endpoint() string      { return fmt.Sprintf("%s:%d", host, chNativePort) }
func (*clickHouse) aptPackages() []string { return []string{"clickhouse-server", "clickhouse-client"} }

func chServerBinary() string {
	for _, p := range []string{"/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if fileExists(p) {
			return p
		}
	}
	return ""
}

func (*clickHouse) installed(*stack) bool { return chServerBinary() != "" }

func (c *clickHouse) install(context.Context, *stack) error {
	if chServerBinary() == "" {
		return fmt.Errorf("clickhouse: clickhouse-server missing after apt-get install clickhouse-server")
	}
	return nil
}

func (c *clickHouse) confFile(s *stack) string { return s.path("clickhouse", "config.xml") }

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func (c *clickHouse) start(ctx context.Context, s *stack) error {
	if pid, ok := s.ownPid("clickhouse", c.confFile(s)); ok {
		s.logf("clickhouse process %d is alive; waiting for it", pid)
		return nil
	}
	base, err := s.serviceDir(ctx, "clickhouse", "clickhouse")
	if err != nil {
		return err
	}
	for _, d := range []string{"log", "data", "tmp", "user_files", "format_schemas"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			return err
		}
	}
	if err := c.render(s, base, "config.xml", "users.xml"); err != nil {
		return err
	}
	// The server writes preprocessed configs, data, logs and its status file
	// under base, so all of it belongs to clickhouse.
	if err := ownDir(base, "clickhouse"); err != nil {
		return err
	}
	return s.spawn("clickhouse", nil, asUser("clickhouse", chServerBinary(),
		"--config-file="+filepath.Join(base, "config.xml"))...)
}

// render writes the named templates (config.xml, users.xml) into base with
// the stack's ports, paths and password hashes.
func (c *clickHouse) render(s *stack, base string, files ...string) error {
	fields := map[string]any{
		"Host": host, "NativePort": chNativePort, "HTTPPort": chHTTPPort, "InterserverPort": chInterserverPort,
		"LogDir": filepath.Join(base, "log"), "DataDir": filepath.Join(base, "data"),
		"TmpDir": filepath.Join(base, "tmp"), "UserFilesDir": filepath.Join(base, "user_files"),
		"FormatSchemaDir": filepath.Join(base, "format_schemas"), "UsersFile": filepath.Join(base, "users.xml"),
		"OperatorHash": sha256Hex(s.secrets["CH_OPERATOR_PASSWORD"]),
		"IndexerHash":  sha256Hex(s.secrets["CH_INDEXER_PASSWORD"]),
		"AuditorHash":  sha256Hex(s.secrets["CH_AUDITOR_PASSWORD"]),
		"ReporterHash": sha256Hex(s.secrets["CH_REPORTER_PASSWORD"]),
		// The default user gets a password nobody knows.
		"DefaultHash": sha256Hex(s.secrets["CH_OPERATOR_PASSWORD"] + s.secrets["S3_SECRET_KEY"]),
	}
	texts := map[string]string{"config.xml": chConfigXML, "users.xml": chUsersXML}
	for _, file := range files {
		var b bytes.Buffer
		if err := template.Must(template.New(file).Parse(texts[file])).Execute(&b, fields); err != nil {
			return err
		}
		// Write then rename, so the server's reloader never reads half a file.
		tmp := filepath.Join(base, "."+file+".tmp")
		if err := os.WriteFile(tmp, b.Bytes(), 0o640); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(base, file)); err != nil {
			return err
		}
	}
	return nil
}

func (c *clickHouse) stop(ctx context.Context, s *stack) error {
	return s.terminate(ctx, "clickhouse", c.confFile(s), 60*time.Second)
}

func (c *clickHouse) open(s *stack, database string) (clickhouse.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{
		Addr:        []string{c.endpoint()},
		Auth:        clickhouse.Auth{Database: database, Username: "operator", Password: s.secrets["CH_OPERATOR_PASSWORD"]},
		DialTimeout: 2 * time.Second,
		ReadTimeout: 10 * time.Second,
	})
}

// ready runs SELECT 1 over the native protocol as the operator.
func (c *clickHouse) ready(ctx context.Context, s *stack) error {
	conn, err := c.open(s, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	var one uint8
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return fmt.Errorf("SELECT 1 returned %d", one)
	}
	return nil
}

func (c *clickHouse) afterReady(ctx context.Context, s *stack) error {
	// The server rereads users.xml by itself within seconds, so `up` on a
	// running stack applies changed users and profiles without a restart;
	// config.xml changes wait for the next start.
	base, err := s.serviceDir(ctx, "clickhouse", "clickhouse")
	if err != nil {
		return err
	}
	if err := c.render(s, base, "users.xml"); err != nil {
		return err
	}
	if err := ownDir(base, "clickhouse"); err != nil {
		return err
	}
	conn, err := c.open(s, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+chDatabase); err != nil {
		return err
	}
	return c.queryLogAccess(ctx, s, conn)
}

// queryLogAccess creates the query log's database (before the server's first flush, 7.5 s after start, so
// nothing is lost), has the server create its query_log table there (SYSTEM FLUSH LOGS) and applies the
// masked copy auditors read (internal/auditstore/access/query_log.sql).
func (c *clickHouse) queryLogAccess(ctx context.Context, s *stack, conn clickhouse.Conn) error {
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+chddl.QueryLogDatabase); err != nil {
		return err
	}
	if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		return err
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'query_log'", chddl.QueryLogDatabase).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		// A server started with an older config.xml still logs into system.query_log, which every user
		// can read. Say so rather than fail: the rest of the stack works.
		s.logf("clickhouse: the query log is not in %s yet: restart ClickHouse (go tool task down -- clickhouse; go tool task up) so auditors stop reading other users' queries in system.query_log", chddl.QueryLogDatabase)
		return nil
	}
	// Logs written before the move stay readable to everyone in system: move them beside the new ones.
	for _, table := range []string{"query_log", "query_thread_log"} {
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = 'system' AND name = ?", table).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			to := fmt.Sprintf("%s.%s_from_system_%d", chddl.QueryLogDatabase, table, time.Now().Unix())
			if err := conn.Exec(ctx, "RENAME TABLE system."+table+" TO "+to); err != nil {
				return fmt.Errorf("move system.%s out of reach: %w", table, err)
			}
			s.logf("clickhouse: moved system.%s (written before the query log moved) to %s", table, to)
		}
	}
	for _, stmt := range migrate.Split(chddl.QueryLogAccess) {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("query log access: %w", err)
		}
	}
	return nil
}
