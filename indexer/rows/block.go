package rows

import (
	"fmt"
	"time"
)

// Column is one ClickHouse column being built as the typed slice clickhouse-go appends in one call
// (BatchColumn.Append): no []any per row and no boxing per value on the way to the driver. Exactly one of
// the slices is used, the one of the column's Go type (see Table).
type Column struct {
	S    []string
	T    []time.Time
	U64  []uint64
	I64  []int64
	I32  []int32
	U8   []uint8
	AS   [][]string
	AU64 [][]uint64
	AI64 [][]int64
	AU8  [][]uint8
}

// Add appends a value of one of the Go types rows use.
func (c *Column) Add(v any) {
	switch x := v.(type) {
	case string:
		c.S = append(c.S, x)
	case time.Time:
		c.T = append(c.T, x)
	case uint64:
		c.U64 = append(c.U64, x)
	case int64:
		c.I64 = append(c.I64, x)
	case int32:
		c.I32 = append(c.I32, x)
	case uint8:
		c.U8 = append(c.U8, x)
	case []string:
		c.AS = append(c.AS, x)
	case []uint64:
		c.AU64 = append(c.AU64, x)
	case []int64:
		c.AI64 = append(c.AI64, x)
	case []uint8:
		c.AU8 = append(c.AU8, x)
	default:
		panic(fmt.Sprintf("rows: no column type for %T", v))
	}
}

// Slice returns the column's values (the one non-empty slice) and how many there are.
func (c *Column) Slice() (any, int) {
	switch {
	case c.S != nil:
		return c.S, len(c.S)
	case c.T != nil:
		return c.T, len(c.T)
	case c.U64 != nil:
		return c.U64, len(c.U64)
	case c.I64 != nil:
		return c.I64, len(c.I64)
	case c.I32 != nil:
		return c.I32, len(c.I32)
	case c.U8 != nil:
		return c.U8, len(c.U8)
	case c.AS != nil:
		return c.AS, len(c.AS)
	case c.AU64 != nil:
		return c.AU64, len(c.AU64)
	case c.AI64 != nil:
		return c.AI64, len(c.AI64)
	case c.AU8 != nil:
		return c.AU8, len(c.AU8)
	}
	return nil, 0
}

// Block holds rows of every table of All, column by column.
type Block struct {
	Cols [][]Column // by index in All, then by column
}

// NewBlock returns an empty Block.
func NewBlock() *Block {
	b := &Block{Cols: make([][]Column, len(All))}
	for i, t := range All {
		b.Cols[i] = make([]Column, len(t.Columns))
	}
	return b
}

// TableIndex is t's index in All.
func TableIndex(t *Table) int {
	for i, x := range All {
		if x == t {
			return i
		}
	}
	panic("rows: table " + t.Name + " is not in All")
}

// Add appends r to its table's columns.
func (b *Block) Add(r Row) {
	cs := b.Cols[TableIndex(r.Table)]
	for i, v := range r.Values {
		cs[i].Add(v)
	}
}

// Rows returns how many rows b holds for table t.
func (b *Block) Rows(t *Table) int {
	_, n := b.Cols[TableIndex(t)][0].Slice()
	return n
}

// Columns transposes rs, rows of one table, into one typed slice per column.
func Columns(t *Table, rs []Row) []any {
	cs := make([]Column, len(t.Columns))
	if len(rs) > 0 {
		n := len(rs)
		for i, v := range rs[0].Values {
			switch v.(type) { // size once: no regrowing while appending
			case string:
				cs[i].S = make([]string, 0, n)
			case time.Time:
				cs[i].T = make([]time.Time, 0, n)
			case uint64:
				cs[i].U64 = make([]uint64, 0, n)
			case int64:
				cs[i].I64 = make([]int64, 0, n)
			case []string:
				cs[i].AS = make([][]string, 0, n)
			}
		}
	}
	for _, r := range rs {
		for i, v := range r.Values {
			cs[i].Add(v)
		}
	}
	out := make([]any, len(cs))
	for i := range cs {
		out[i], _ = cs[i].Slice()
	}
	return out
}
