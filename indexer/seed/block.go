package seed

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pangate/pangate/indexer/rows"
)

// column is one ClickHouse column being built, as the typed slice clickhouse-go appends in one call
// (BatchColumn.Append): no per-row []any, no per-value boxing.
type column struct {
	s    []string
	t    []time.Time
	u64  []uint64
	i64  []int64
	i32  []int32
	u8   []uint8
	as   [][]string
	au64 [][]uint64
	ai64 [][]int64
	au8  [][]uint8
}

// add appends a value of one of the Go types package rows uses.
func (c *column) add(v any) {
	switch x := v.(type) {
	case string:
		c.s = append(c.s, x)
	case time.Time:
		c.t = append(c.t, x)
	case uint64:
		c.u64 = append(c.u64, x)
	case int64:
		c.i64 = append(c.i64, x)
	case int32:
		c.i32 = append(c.i32, x)
	case uint8:
		c.u8 = append(c.u8, x)
	case []string:
		c.as = append(c.as, x)
	case []uint64:
		c.au64 = append(c.au64, x)
	case []int64:
		c.ai64 = append(c.ai64, x)
	case []uint8:
		c.au8 = append(c.au8, x)
	default:
		panic(fmt.Sprintf("seed: no column type for %T", v))
	}
}

// slice returns the one non-empty slice and its length.
func (c *column) slice() (any, int) {
	switch {
	case c.s != nil:
		return c.s, len(c.s)
	case c.t != nil:
		return c.t, len(c.t)
	case c.u64 != nil:
		return c.u64, len(c.u64)
	case c.i64 != nil:
		return c.i64, len(c.i64)
	case c.i32 != nil:
		return c.i32, len(c.i32)
	case c.u8 != nil:
		return c.u8, len(c.u8)
	case c.as != nil:
		return c.as, len(c.as)
	case c.au64 != nil:
		return c.au64, len(c.au64)
	case c.ai64 != nil:
		return c.ai64, len(c.ai64)
	case c.au8 != nil:
		return c.au8, len(c.au8)
	}
	return nil, 0
}

// Block is the rows of every table for a run of events, column by column.
type Block struct {
	Events int // events (records) in the block
	cols   [][]column
}

func newBlock() *Block {
	b := &Block{cols: make([][]column, len(rows.All))}
	for i, t := range rows.All {
		b.cols[i] = make([]column, len(t.Columns))
	}
	return b
}

// Rows returns how many rows the block holds for table t.
func (b *Block) Rows(t *rows.Table) int {
	_, n := b.cols[tableIndex(t)][0].slice()
	return n
}

// addRow appends a row of values in the order of its table's columns.
func (b *Block) addRow(r rows.Row) {
	cs := b.cols[tableIndex(r.Table)]
	for i, v := range r.Values {
		cs[i].add(v)
	}
}

// Write inserts the block into database db, one INSERT per table (tables in rows.All order, events last:
// see rows.All).
func (b *Block) Write(ctx context.Context, conn driver.Conn, db string) error {
	for i, t := range rows.All {
		cs := b.cols[i]
		if _, n := cs[0].slice(); n == 0 {
			continue
		}
		q := "INSERT INTO " + db + "." + t.Name + " (" + strings.Join(t.Columns, ", ") + ")"
		batch, err := conn.PrepareBatch(ctx, q)
		if err != nil {
			return fmt.Errorf("seed: prepare insert into %s.%s: %w", db, t.Name, err)
		}
		for j := range cs {
			s, _ := cs[j].slice()
			if err := batch.Column(j).Append(s); err != nil {
				_ = batch.Abort()
				return fmt.Errorf("seed: column %s.%s: %w", t.Name, t.Columns[j], err)
			}
		}
		if err := batch.Send(); err != nil {
			return fmt.Errorf("seed: insert into %s.%s: %w", db, t.Name, err)
		}
	}
	return nil
}
