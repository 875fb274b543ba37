// Command seed writes N synthetic but valid audit events (chains and signed checkpoints that verify) straight
// into a ClickHouse database, for benchmarking evidence packages at volume (package indexer/seed).
//
//	go tool task seed -- -events 10000000 -database h16_bench -key .stack/seed.key
//
// The database is created and migrated if needed. The checkpoint key is a PKCS#8 PEM Ed25519 private key
// (what `gateway keygen` writes); when the file does not exist one is generated, with its public key beside
// it (FILE.pub) for the reporter's gateway_keys.
package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/indexer/seed"
	"github.com/pangate/pangate/indexer/service"
	"github.com/pangate/pangate/schemas"
)

func main() {
	events := flag.Int("events", 1_000_000, "about how many events to write (whole sessions)")
	from := flag.String("from", "2026-10-01", "first day of the period (UTC, YYYY-MM-DD)")
	days := flag.Int("days", 30, "days the events are spread over")
	gateways := flag.Int("gateways", 4, "gateway instances (one run each)")
	interval := flag.Duration("interval", time.Minute, "checkpoint interval")
	addr := flag.String("addr", envOr("PANGATE_CLICKHOUSE_ADDR", "127.0.0.1:9000"), "ClickHouse native host:port")
	user := flag.String("user", envOr("PANGATE_CLICKHOUSE_USER", "default"), "ClickHouse user allowed to create and insert (the operator); password from PANGATE_CLICKHOUSE_PASSWORD")
	db := flag.String("database", "", "database to fill (created and migrated if needed)")
	keyPath := flag.String("key", "", "checkpoint signing key, PKCS#8 PEM; generated (with FILE.pub) if missing")
	prefix := flag.String("prefix", "", "prefix of session, run and approval ids (default: the database name and a dash)")
	block := flag.Int("block", 100000, "events per INSERT")
	lz4 := flag.Bool("lz4", false, "compress blocks (LZ4) on the wire: costs both sides CPU, pays off only over a real network (measured 2x slower on loopback)")
	flag.Parse()
	if err := run(*events, *from, *days, *gateways, *interval, *addr, *user, os.Getenv("PANGATE_CLICKHOUSE_PASSWORD"), *db, *keyPath, *prefix, *block, *lz4); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run(events int, from string, days, gateways int, interval time.Duration, addr, user, password, db, keyPath, prefix string, block int, compress bool) error {
	if db == "" || keyPath == "" {
		return fmt.Errorf("-database and -key are required (for example -database h16_bench -key .stack/seed.key)")
	}
	start, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return fmt.Errorf("-from %q: use YYYY-MM-DD: %w", from, err)
	}
	if _, err := os.Stat(keyPath); os.IsNotExist(err) {
		if _, err := schemas.WriteKeyPair(keyPath, keyPath+".pub"); err != nil {
			return err
		}
	}
	key, err := schemas.LoadPrivateKey(keyPath)
	if err != nil {
		return err
	}
	if prefix == "" {
		prefix = db + "-"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := config.Defaults()
	cfg.ClickHouse.Addrs, cfg.ClickHouse.Database = []string{addr}, db
	cfg.ClickHouse.User, cfg.ClickHouse.Password = user, password
	cfg.ClickHouse.MigrateUser, cfg.ClickHouse.MigratePassword = user, password
	if _, err := service.Migrate(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return fmt.Errorf("migrate %s: %w", db, err)
	}
	opts := &clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: db, Username: user, Password: password},
		DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Minute, MaxOpenConns: 4}
	if compress {
		opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	t0 := time.Now()
	last := t0
	res, err := seed.Run(ctx, conn, db, seed.Config{Events: events, From: start, Days: days, Gateways: gateways, Interval: interval,
		Key: key, Prefix: prefix, BlockEvents: block}, func(n int64) {
		if time.Since(last) >= 2*time.Second {
			last = time.Now()
			el := time.Since(t0)
			rate := float64(n) / el.Seconds()
			eta := time.Duration(float64(int64(events)-n)/rate) * time.Second
			fmt.Fprintf(os.Stderr, "seed: %d/%d events, %.0f events/s, ETA %s\n", n, events, rate, eta.Round(time.Second))
		}
	})
	if err != nil {
		return err
	}
	pub := key.Public().(ed25519.PublicKey)
	fmt.Printf("seeded %d events (%d sessions, %d gateways, %d days from %s) into %s in %s: %.0f events/s; checkpoint key id %s\n",
		res.Events, res.Sessions, gateways, days, from, db, res.Elapsed.Round(time.Millisecond), float64(res.Events)/res.Elapsed.Seconds(),
		schemas.KeyID(pub))
	return nil
}
