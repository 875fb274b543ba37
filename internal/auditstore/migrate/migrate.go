// Package migrate applies pangate's versioned ClickHouse migrations (internal/auditstore/migrations) to one
// database and records each applied version in its schema_migrations table.
//
// Migrations are files named NNNN_name.sql; NNNN is the version. Every statement in them must be
// idempotent (CREATE … IF NOT EXISTS; ALTER TABLE … ADD COLUMN, which Apply skips when system.columns already
// has the column, because ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS). A version is recorded only after
// all its statements ran, so a crash mid-migration is repaired by running Apply again. A database whose
// recorded version is newer than the newest migration this binary carries is refused with ErrNewerSchema:
// an old indexer must not write into a schema it does not know.
package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Errors returned by Load and Apply.
var (
	// ErrNewerSchema means the database was migrated by a newer pangate than this one; upgrade the indexer.
	ErrNewerSchema = errors.New("migrate: database schema is newer than this indexer")
	// ErrBadMigration means a migration file is misnamed, duplicated or empty.
	ErrBadMigration = errors.New("migrate: bad migration file")
)

// Migration is one versioned file.
type Migration struct {
	Version    uint32
	Name       string   // file name
	Checksum   string   // hex SHA-256 of the file
	Statements []string // without comments, without the trailing ';'
}

var fileName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// Load reads every *.sql file of dir in fsys, sorted by version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", dir, err)
	}
	var out []Migration
	seen := map[uint32]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("%w: %s: name must be NNNN_lower_case.sql", ErrBadMigration, e.Name())
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		if prev, dup := seen[uint32(v)]; dup {
			return nil, fmt.Errorf("%w: %s and %s share version %d", ErrBadMigration, prev, e.Name(), v)
		}
		seen[uint32(v)] = e.Name()
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		stmts := Split(string(b))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("%w: %s has no statements", ErrBadMigration, e.Name())
		}
		out = append(out, Migration{Version: uint32(v), Name: e.Name(), Checksum: hex.EncodeToString(sum[:]), Statements: stmts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no NNNN_name.sql files in %s", ErrBadMigration, dir)
	}
	return out, nil
}

// Split cuts a SQL file into statements: it drops "--" comments (outside quotes) and splits at ';' that end
// a line. Statements never contain ';' elsewhere.
func Split(sql string) []string {
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		line = strings.TrimRight(stripComment(line), " \t\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		end := strings.HasSuffix(line, ";")
		cur.WriteString(strings.TrimSuffix(line, ";"))
		cur.WriteByte('\n')
		if end {
			if s := strings.TrimSpace(cur.String()); s != "" {
				stmts = append(stmts, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, s)
	}
	return stmts
}

func stripComment(line string) string {
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\'':
			inQuote = !inQuote
		case !inQuote && line[i] == '-' && i+1 < len(line) && line[i+1] == '-':
			return line[:i]
		}
	}
	return line
}

// Result says what Apply did.
type Result struct {
	From    uint32   // version found (0: empty database)
	To      uint32   // version after Apply
	Applied []uint32 // versions applied now
}

// EnsureDatabase creates database name if it does not exist. conn may have any default database.
func EnsureDatabase(ctx context.Context, conn driver.Conn, name string) error {
	if !ValidIdent(name) {
		return fmt.Errorf("migrate: database name %q: use letters, digits and '_' only, starting with a letter", name)
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+name); err != nil {
		return fmt.Errorf("migrate: create database %s: %w", name, err)
	}
	return nil
}

var ident = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidIdent reports whether s can be used unquoted as a ClickHouse database or table name.
func ValidIdent(s string) bool { return len(s) <= 128 && ident.MatchString(s) }

// Version returns the newest version recorded in the database conn uses by default (0 if none).
func Version(ctx context.Context, conn driver.Conn) (uint32, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = 'schema_migrations'").Scan(&n); err != nil {
		return 0, fmt.Errorf("migrate: look for schema_migrations: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	var v uint32
	if err := conn.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return v, nil
}

var addColumn = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\s+ADD\s+COLUMN\s+([A-Za-z_][A-Za-z0-9_]*)\s`)

// Apply brings the database conn uses by default to the newest of ms. conn must be allowed to run DDL
// (the operator). It returns ErrNewerSchema, without changing anything, if the database is newer.
func Apply(ctx context.Context, conn driver.Conn, ms []Migration) (Result, error) {
	if len(ms) == 0 {
		return Result{}, fmt.Errorf("%w: no migrations given", ErrBadMigration)
	}
	from, err := Version(ctx, conn)
	if err != nil {
		return Result{}, err
	}
	res := Result{From: from, To: from}
	newest := ms[len(ms)-1].Version
	if from > newest {
		return res, fmt.Errorf("%w: database is at version %d, this indexer knows up to %d: run a newer indexer", ErrNewerSchema, from, newest)
	}
	for _, m := range ms {
		if m.Version <= from {
			continue
		}
		for i, stmt := range m.Statements {
			if skip, err := columnExists(ctx, conn, stmt); err != nil {
				return res, err
			} else if skip {
				continue
			}
			if err := conn.Exec(ctx, stmt); err != nil {
				return res, fmt.Errorf("migrate: %s statement %d: %w", m.Name, i+1, err)
			}
		}
		b, err := conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, checksum, applied_at)")
		if err != nil {
			return res, fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
		if err := b.Append(m.Version, m.Name, m.Checksum, time.Now().UTC()); err != nil {
			_ = b.Abort()
			return res, fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
		if err := b.Send(); err != nil {
			return res, fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
		res.Applied = append(res.Applied, m.Version)
		res.To = m.Version
	}
	return res, nil
}

// columnExists reports whether stmt is ALTER TABLE t ADD COLUMN c … and t already has c.
func columnExists(ctx context.Context, conn driver.Conn, stmt string) (bool, error) {
	m := addColumn.FindStringSubmatch(stmt)
	if m == nil {
		return false, nil
	}
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = ? AND name = ?", m[1], m[2]).Scan(&n); err != nil {
		return false, fmt.Errorf("migrate: check column %s.%s: %w", m[1], m[2], err)
	}
	return n > 0, nil
}
