// Package query reads the audit store (ClickHouse, the tables of internal/auditstore the indexer writes) for the
// reporter: the populations of each PCI DSS requirement as rows, the raw event records for the integrity
// check, retention and clock facts, chart data and session transcripts. Every query reads with FINAL (the
// exactly-once convention of the schema) and is rendered with its period as literal numbers, so the SQL
// recorded in a package's manifest can be pasted into clickhouse-client as is.
package query

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/schemas"
)

// Errors.
var (
	// ErrConfig is returned by Config.Validate.
	ErrConfig = errors.New("query: invalid ClickHouse config")
	// ErrUnreachable is returned when ClickHouse does not answer.
	ErrUnreachable = errors.New("query: ClickHouse unreachable")
	// ErrSchema is returned when the indexer's tables are missing from the database.
	ErrSchema = errors.New("query: audit tables missing")
)

// Config says where the audit store is.
type Config struct {
	Addr     string        `yaml:"addr"` // native protocol host:port
	Database string        `yaml:"database"`
	User     string        `yaml:"user"`
	Password string        `yaml:"password"`
	Timeout  time.Duration `yaml:"timeout"` // per round trip (default 5m: month-long scans)
	// Readers is how many ranges of raw records the integrity check reads at once (default
	// DefaultReaders); memory grows with it (docs/evidence.md, "Memory").
	Readers int `yaml:"readers"`
	// HTTPAddr is ClickHouse's HTTP interface (host:port, plain http) for the integrity check's raw records
	// (RowBinary into reused buffers: about a fifth of the native client's allocation); empty reads them
	// through Addr. Same user and password (docs/evidence.md, "Memory").
	HTTPAddr string `yaml:"http_addr"`
}

// Validate checks the config.
func (c Config) Validate() error {
	var errs []string
	if c.Addr == "" || !strings.Contains(c.Addr, ":") {
		errs = append(errs, fmt.Sprintf("clickhouse.addr %q: set the native protocol host:port (default port 9000)", c.Addr))
	}
	if c.Database == "" {
		errs = append(errs, "clickhouse.database is empty: set the indexer's database (pangate)")
	}
	if c.User == "" {
		errs = append(errs, "clickhouse.user is empty: use the read-only user reporter")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(errs, "; "))
	}
	return nil
}

// DB is the audit store.
type DB struct {
	conn driver.Conn
	cfg  Config
}

// Open connects and checks that ClickHouse answers and the tables exist.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Minute
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{cfg.Addr},
		Auth:         clickhouse.Auth{Database: cfg.Database, Username: cfg.User, Password: cfg.Password},
		DialTimeout:  5 * time.Second,
		ReadTimeout:  cfg.Timeout,
		MaxOpenConns: 6,
		Compression:  &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
	})
	if err != nil {
		return nil, fmt.Errorf("%w at %s: %v", ErrUnreachable, cfg.Addr, err)
	}
	return New(ctx, conn, cfg)
}

// New wraps an open connection whose default database holds the tables.
func New(ctx context.Context, conn driver.Conn, cfg Config) (*DB, error) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		return nil, fmt.Errorf("%w at %s (database %s, user %s): %v: check that clickhouse-server runs and clickhouse.addr is right", ErrUnreachable, cfg.Addr, cfg.Database, cfg.User, err)
	}
	db := &DB{conn: conn, cfg: cfg}
	var n uint64
	names := auditstore.Names(auditstore.Reported)
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('"+strings.Join(names, "','")+"')").Scan(&n); err != nil {
		return nil, fmt.Errorf("query: inspect database %s: %w", cfg.Database, err)
	}
	// completions arrived with schema version 2 (statement outcomes): a store an older indexer migrated
	// lacks it until the indexer is upgraded.
	if n < uint64(len(names)) {
		return nil, fmt.Errorf("%w: database %s has %d of the %d audit tables %v (completions needs schema version 2): run the current indexer (it applies the internal/auditstore migrations) or fix clickhouse.database", ErrSchema, cfg.Database, n, len(names), names)
	}
	return db, nil
}

// Close closes the connection.
func (db *DB) Close() error { return db.conn.Close() }

// Conn is the underlying connection.
func (db *DB) Conn() driver.Conn { return db.conn }

// Period is a half-open interval of time.
type Period struct{ From, To time.Time }

// Render substitutes the period into a SQL template: {from}/{to} as epoch seconds (for the DateTime
// partition column), {from_us}/{to_us} as epoch microseconds (exact bounds on time_us).
func (p Period) Render(tmpl string) string {
	r := strings.NewReplacer(
		"{from}", strconv.FormatInt(p.From.Unix(), 10),
		"{to}", strconv.FormatInt(p.To.Unix(), 10),
		"{from_us}", strconv.FormatInt(p.From.UnixMicro(), 10),
		"{to_us}", strconv.FormatInt(p.To.UnixMicro(), 10),
	)
	return strings.TrimSpace(r.Replace(tmpl))
}

// Table is a query result as text cells.
type Table struct {
	Columns []string
	Rows    [][]string
}

// Rows runs sql and renders every cell as text: columns named ts or ending in _at hold epoch microseconds
// and are rendered in the events' time format (empty for 0); arrays are joined with ";". It holds the whole
// result: for small results (facts, charts); populations are streamed (StreamRows).
func (db *DB) Rows(ctx context.Context, sql string) (*Table, error) {
	t := &Table{}
	err := db.StreamRows(ctx, sql, func(cols []string) error {
		t.Columns = cols
		return nil
	}, func(r []string) error {
		t.Rows = append(t.Rows, CopyRow(r))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (db *DB) wrap(err error, sql string) error {
	var opErr interface{ Timeout() bool }
	if errors.As(err, &opErr) || strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "EOF") {
		return fmt.Errorf("%w at %s: %v", ErrUnreachable, db.cfg.Addr, err)
	}
	first := sql
	if i := strings.IndexByte(first, '\n'); i > 0 {
		first = first[:i]
	}
	return fmt.Errorf("query: %v (in: %s…)", err, first)
}

func isTimeCol(name string) bool { return name == "ts" || strings.HasSuffix(name, "_at") }

// formatter returns a function rendering the value behind p (a scan destination) as text, without
// reflection per cell for the common column types.
func formatter(col string, p any) func() string {
	switch x := p.(type) {
	case *string:
		return func() string { return *x }
	case *uint64:
		if isTimeCol(col) {
			return func() string {
				if *x == 0 {
					return ""
				}
				return schemas.FormatTime(time.UnixMicro(int64(*x)))
			}
		}
		return func() string { return strconv.FormatUint(*x, 10) }
	case *int64:
		return func() string { return strconv.FormatInt(*x, 10) }
	case *uint8:
		return func() string { return strconv.FormatUint(uint64(*x), 10) }
	case *[]string:
		return func() string { return strings.Join(*x, ";") }
	}
	return func() string { return format(col, reflect.ValueOf(p).Elem().Interface()) }
}

func format(col string, v any) string {
	switch x := v.(type) {
	case string:
		return x
	case uint64:
		if isTimeCol(col) {
			if x == 0 {
				return ""
			}
			return schemas.FormatTime(time.UnixMicro(int64(x)))
		}
		return strconv.FormatUint(x, 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint8:
		return strconv.FormatUint(uint64(x), 10)
	case uint32:
		return strconv.FormatUint(uint64(x), 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint16:
		return strconv.FormatUint(uint64(x), 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []string:
		return strings.Join(x, ";")
	case time.Time:
		return schemas.FormatTime(x)
	default:
		return fmt.Sprint(x)
	}
}

// Database is the database the tables are read from.
func (db *DB) Database() string { return db.cfg.Database }
