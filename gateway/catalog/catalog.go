// Package catalog resolves result columns to their source table and column name — the table OID and
// attribute number a RowDescription carries — with a cached pg_catalog lookup, so the masker can apply
// column tags (mask.Catalog).
//
// A miss loads every column of that table in one query through the target's admin pool, bounded by a
// short timeout; unknown OIDs are cached as such too. Entries expire after TTL so that renamed columns are
// seen again. The lookup runs on the relay goroutine, so it must be cheap after the first statement.
package catalog

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Set holds one Catalog per database of a target: OIDs are per database, so a session's columns are
// looked up in the database it connected to. Pools are opened lazily with the admin DSN, database replaced.
type Set struct {
	cfg   Config
	dsn   string
	mu    sync.Mutex
	cats  map[string]*Catalog
	pools []*pgxpool.Pool
}

// NewSet returns a Set connecting with adminDSN.
func NewSet(cfg Config, adminDSN string) *Set {
	return &Set{cfg: cfg, dsn: adminDSN, cats: map[string]*Catalog{}}
}

// For returns the catalog of database (nil if no pool can be configured for it: columns are then unknown
// and only content scanning and column names apply).
func (s *Set) For(database string) *Catalog {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cats[database]; ok {
		return c
	}
	pc, err := pgxpool.ParseConfig(s.dsn)
	if err != nil {
		return nil
	}
	pc.ConnConfig.Database = database
	pc.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil
	}
	s.pools = append(s.pools, pool)
	c := New(s.cfg, pool)
	s.cats[database] = c
	return c
}

// Close closes every pool.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.pools {
		p.Close()
	}
}

// Config configures a Catalog.
type Config struct {
	// TTL of a cached table (default 5m).
	TTL time.Duration
	// MaxTables cached (default 4096); the cache is cleared when it grows past it.
	MaxTables int
	// Timeout of one lookup (default 2s); on timeout the column is reported unknown.
	Timeout time.Duration
}

// Catalog is a cached (table OID, attnum) → (schema.table, column) map. Safe for concurrent use.
type Catalog struct {
	cfg  Config
	pool *pgxpool.Pool

	mu     sync.Mutex
	tables map[uint32]*table
	names  map[string]*named // TableColumns cache, by name as written
}

// named is a table looked up by name: its columns in attnum order (nil: unknown).
type named struct {
	columns []string
	loaded  time.Time
}

type table struct {
	name    string
	columns map[uint16]string
	loaded  time.Time
}

// New returns a Catalog reading through pool.
func New(cfg Config, pool *pgxpool.Pool) *Catalog {
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.MaxTables <= 0 {
		cfg.MaxTables = 4096
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	return &Catalog{cfg: cfg, pool: pool, tables: map[uint32]*table{}, names: map[string]*named{}}
}

// Column implements mask.Catalog. table is "schema.table".
func (c *Catalog) Column(tableOID uint32, attnum uint16) (string, string, bool) {
	if tableOID == 0 || attnum == 0 {
		return "", "", false
	}
	c.mu.Lock()
	t, ok := c.tables[tableOID]
	c.mu.Unlock()
	if !ok || time.Since(t.loaded) > c.cfg.TTL {
		t = c.load(tableOID)
	}
	col, ok := t.columns[attnum]
	if !ok || t.name == "" {
		return "", "", false
	}
	return t.name, col, true
}

func (c *Catalog) load(oid uint32) *table {
	t := &table{columns: map[uint16]string{}, loaded: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	rows, err := c.pool.Query(ctx, `SELECT n.nspname, cl.relname, a.attnum, a.attname
		FROM pg_catalog.pg_class cl
		JOIN pg_catalog.pg_namespace n ON n.oid = cl.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = cl.oid
		WHERE cl.oid = $1 AND a.attnum > 0 AND NOT a.attisdropped`, oid)
	if err != nil {
		t.loaded = time.Now().Add(-c.cfg.TTL + 5*time.Second) // retry soon
		return t
	}
	for rows.Next() {
		var ns, rel, att string
		var num int16
		if err := rows.Scan(&ns, &rel, &num, &att); err != nil {
			break
		}
		t.name = ns + "." + rel
		t.columns[uint16(num)] = att
	}
	rows.Close()
	c.mu.Lock()
	if len(c.tables) >= c.cfg.MaxTables {
		c.tables = map[uint32]*table{}
	}
	c.tables[oid] = t
	c.mu.Unlock()
	return t
}

// TableColumns returns the columns of table ("table" or "schema.table" as the classifier writes it:
// unquoted names lower-cased, quoted ones as written), in attnum order, resolved with the admin
// connection's search_path; ok is false when the table is unknown or the lookup failed. The gateway uses
// it for "table.*" and whole-table COPY (which columns are cardholder data).
func (c *Catalog) TableColumns(table string) ([]string, bool) {
	if table == "" {
		return nil, false
	}
	c.mu.Lock()
	n, ok := c.names[table]
	c.mu.Unlock()
	if !ok || time.Since(n.loaded) > c.cfg.TTL {
		n = c.loadNamed(table)
	}
	return n.columns, n.columns != nil
}

// quoteName quotes each dot-separated part, so the classifier's exact spelling is looked up.
func quoteName(table string) string {
	parts := strings.Split(table, ".")
	for i, p := range parts {
		parts[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	return strings.Join(parts, ".")
}

func (c *Catalog) loadNamed(table string) *named {
	n := &named{loaded: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	rows, err := c.pool.Query(ctx, `SELECT a.attname FROM pg_catalog.pg_attribute a
		WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, quoteName(table))
	if err != nil {
		n.loaded = time.Now().Add(-c.cfg.TTL + 5*time.Second) // retry soon
		return n
	}
	for rows.Next() {
		var att string
		if err := rows.Scan(&att); err != nil {
			n.columns = nil
			break
		}
		n.columns = append(n.columns, att)
	}
	if rows.Err() != nil {
		n.columns = nil
	}
	rows.Close()
	c.mu.Lock()
	if len(c.names) >= c.cfg.MaxTables {
		c.names = map[string]*named{}
	}
	c.names[table] = n
	c.mu.Unlock()
	return n
}
