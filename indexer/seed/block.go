package seed

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pangate/pangate/indexer/rows"
)

// Block is the rows of every table for a run of events, column by column.
type Block struct {
	Events int // events (records) in the block
	*rows.Block
}

func newBlock() *Block { return &Block{Block: rows.NewBlock()} }

// Write inserts the block into database db, one INSERT per table (tables in rows.All order, events last:
// see rows.All).
func (b *Block) Write(ctx context.Context, conn driver.Conn, db string) error {
	for i, t := range rows.All {
		cs := b.Cols[i]
		if _, n := cs[0].Slice(); n == 0 {
			continue
		}
		q := "INSERT INTO " + db + "." + t.Name + " (" + strings.Join(t.Columns, ", ") + ")"
		batch, err := conn.PrepareBatch(ctx, q)
		if err != nil {
			return fmt.Errorf("seed: prepare insert into %s.%s: %w", db, t.Name, err)
		}
		for j := range cs {
			s, _ := cs[j].Slice()
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
