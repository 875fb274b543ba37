// Package store writes the indexer's rows to ClickHouse over the native protocol: one prepared batch per
// table, with an explicit column list (ClickHouse 18.16 and clickhouse-go need it), so the column order of
// package rows is the only mapping between Go values and columns.
package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pangate/pangate/indexer/rows"
)

// Config says where ClickHouse is and who connects.
type Config struct {
	Addrs       []string      // native protocol host:port
	Database    string        // database the tables live in
	User        string        // the indexer user (insert + select) or the operator (migrations, retention)
	Password    string        // never logged
	DialTimeout time.Duration // per connection attempt
	ReadTimeout time.Duration // per round trip; an insert of a full batch must fit
	// Settings go with every query: on a cluster the indexer sends insert_distributed_sync=1, so an insert
	// returns only after every shard wrote its rows (its Kafka offsets are committed after that).
	Settings clickhouse.Settings
}

// ErrConfig is matched by every Config.Validate error.
var ErrConfig = errors.New("store: invalid ClickHouse config")

// Validate reports what is missing in words a user can act on.
func (c Config) Validate() error {
	var errs []string
	if len(c.Addrs) == 0 {
		errs = append(errs, "no ClickHouse address: set clickhouse.addrs to native protocol host:port (default port 9000)")
	}
	for _, a := range c.Addrs {
		if !strings.Contains(a, ":") {
			errs = append(errs, fmt.Sprintf("ClickHouse address %q has no port: use host:port", a))
		}
	}
	if c.Database == "" {
		errs = append(errs, "no ClickHouse database: set clickhouse.database (for example pangate)")
	}
	if c.User == "" {
		errs = append(errs, "no ClickHouse user")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrConfig, strings.Join(errs, "; "))
	}
	return nil
}

// Open connects to ClickHouse with database as the default for unqualified names. It does not wait for the
// server: the first query does.
func Open(c Config) (driver.Conn, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 60 * time.Second
	}
	return clickhouse.Open(&clickhouse.Options{
		Addr:         c.Addrs,
		Auth:         clickhouse.Auth{Database: c.Database, Username: c.User, Password: c.Password},
		DialTimeout:  c.DialTimeout,
		ReadTimeout:  c.ReadTimeout,
		MaxOpenConns: 8,
		MaxIdleConns: 4,
		Compression:  &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
		Settings:     c.Settings,
	})
}

// Writer inserts rows.
type Writer struct {
	conn    driver.Conn
	inserts map[*rows.Table]string
}

// NewWriter returns a Writer over conn.
func NewWriter(conn driver.Conn) *Writer {
	w := &Writer{conn: conn, inserts: map[*rows.Table]string{}}
	for _, t := range rows.All {
		w.inserts[t] = "INSERT INTO " + t.Name + " (" + strings.Join(t.Columns, ", ") + ")"
	}
	return w
}

// Write inserts rs, one batch per table. It is all or nothing per table only: on error some tables may hold
// their rows and others not, which is safe because every table deduplicates replays (see the DDL).
func (w *Writer) Write(ctx context.Context, rs []rows.Row) error {
	byTable := map[*rows.Table][]rows.Row{}
	for _, r := range rs {
		byTable[r.Table] = append(byTable[r.Table], r)
	}
	for _, t := range rows.All {
		trs := byTable[t]
		if len(trs) == 0 {
			continue
		}
		if err := w.insert(ctx, t, trs); err != nil {
			return err
		}
	}
	return nil
}

// maxMonthsPerInsert keeps one INSERT below current ClickHouse's max_partitions_per_insert_block (100): a
// batch of events spread over many months (a replay of old history, or hostile timestamps) would otherwise be
// refused on every retry and stall ingestion.
const maxMonthsPerInsert = 90

func (w *Writer) insert(ctx context.Context, t *rows.Table, rs []rows.Row) error {
	for _, chunk := range byMonths(rs, maxMonthsPerInsert) {
		if err := w.insertBatch(ctx, t, chunk); err != nil {
			return err
		}
	}
	return nil
}

// byMonths splits rs into groups that each span at most max months of their partition time (the first
// time.Time value of a row), keeping rs whole in the common case.
func byMonths(rs []rows.Row, max int) [][]rows.Row {
	months := map[int][]rows.Row{}
	for _, r := range rs {
		m := 0
		for _, v := range r.Values {
			if tv, ok := v.(time.Time); ok {
				m = tv.Year()*100 + int(tv.Month())
				break
			}
		}
		months[m] = append(months[m], r)
	}
	if len(months) <= max {
		return [][]rows.Row{rs}
	}
	keys := make([]int, 0, len(months))
	for k := range months {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var out [][]rows.Row
	for i := 0; i < len(keys); i += max {
		var chunk []rows.Row
		for _, k := range keys[i:min(i+max, len(keys))] {
			chunk = append(chunk, months[k]...)
		}
		out = append(out, chunk)
	}
	return out
}

func (w *Writer) insertBatch(ctx context.Context, t *rows.Table, rs []rows.Row) error {
	b, err := w.conn.PrepareBatch(ctx, w.inserts[t])
	if err != nil {
		return fmt.Errorf("store: prepare insert into %s: %w", t.Name, err)
	}
	defer b.Close()
	// Column by column (one typed slice per column): clickhouse-go's per-row Append converts every value
	// through reflection and cost more CPU than the ClickHouse insert itself (indexer/BENCHMARKS.md).
	for j, col := range rows.Columns(t, rs) {
		if err := b.Column(j).Append(col); err != nil {
			_ = b.Abort()
			return fmt.Errorf("store: append column %s.%s: %w", t.Name, t.Columns[j], err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("store: insert %d rows into %s: %w", len(rs), t.Name, err)
	}
	return nil
}
