// Command client is the benchmark's measuring client: "rows" streams a large SELECT into a discarding
// pgx client and prints rows/s; "idle" opens N idle connections and holds them until stdin closes, so the
// script can read the server's RSS.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	mode := flag.String("mode", "rows", "rows or idle")
	dsn := flag.String("dsn", "", "connection string")
	n := flag.Int("n", 1000000, "rows (rows) or connections (idle)")
	flag.Parse()
	ctx := context.Background()
	switch *mode {
	case "rows":
		c, err := pgx.Connect(ctx, *dsn)
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close(ctx)
		start := time.Now()
		rows, err := c.Query(ctx, fmt.Sprintf("SELECT g, 'row number ' || g FROM generate_series(1, %d) g", *n), pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			log.Fatal(err)
		}
		got := 0
		for rows.Next() {
			got++
		}
		if err := rows.Err(); err != nil {
			log.Fatal(err)
		}
		el := time.Since(start)
		fmt.Printf("rows=%d seconds=%.3f rows_per_s=%.0f\n", got, el.Seconds(), float64(got)/el.Seconds())
	case "idle":
		var conns []*pgx.Conn
		for i := 0; i < *n; i++ {
			c, err := pgx.Connect(ctx, *dsn)
			if err != nil {
				log.Fatalf("connection %d: %v", i, err)
			}
			conns = append(conns, c)
		}
		fmt.Printf("open=%d\n", len(conns))
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		for _, c := range conns {
			_ = c.Close(ctx)
		}
	}
}
