package reporter_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/indexer/seed"
	"github.com/pangate/pangate/indexer/store"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/build"
	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/schemas"
)

// BenchmarkPackage30Days measures one evidence package over 30 days of events (PANGATE_BENCH_EVENTS,
// default 1,000,000) beside the clickhouse-client read floor of the same run. The store is seeded by
// indexer/seed (the indexer's own row mapping, chains and signed checkpoints), or is a database seeded before:
//
//	PANGATE_BENCH_EVENTS=1000000 go test ./integration/reporter -run '^$' -bench Package30Days -benchtime 1x -timeout 30m
//	go tool task seed -- -events 10000000 -database bench10m -key /tmp/seed.key
//	PANGATE_BENCH_DB=bench10m PANGATE_BENCH_KEY=/tmp/seed.key go test ./integration/reporter -run '^$' -bench Package30Days -benchtime 1x -timeout 60m
func BenchmarkPackage30Days(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("PANGATE_BENCH_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("PANGATE_BENCH_EVENTS=%q: %v", s, err)
		}
		n = v
	}
	if os.Getenv("PANGATE_BENCH_DB") != "" {
		b.Setenv("PANGATE_KEEP_DB", "1") // before newEnvWith: its cleanup must not drop the reused database
	}
	en := newEnvWith(b, false)
	// A fixed key, so a kept database's checkpoints verify on a rerun.
	en.key = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	en.pub = en.key.Public().(ed25519.PublicKey)
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 30)
	if kp := os.Getenv("PANGATE_BENCH_KEY"); kp != "" {
		// The checkpoint key a kept database was seeded with (go tool task seed -- -key FILE).
		k, err := audit.LoadKey(kp)
		if err != nil {
			b.Fatal(err)
		}
		en.key, en.pub = k, k.Public().(ed25519.PublicKey)
	}
	if db := os.Getenv("PANGATE_BENCH_DB"); db != "" {
		// Reuse a seeded database (go tool task seed, or PANGATE_KEEP_DB=1 on a previous run).
		en.useDatabase(db)
		// The reporter's own round-trip timeout (query.Config.Timeout, 5 min), not the store's 60 s: a
		// population sorted whole by ClickHouse sends its first row only after the sort, which takes longer
		// than a minute at 10 M events on a loaded machine.
		conn, err := store.Open(store.Config{Addrs: []string{en.ep.ClickHouseAddr}, Database: db, User: en.ep.ClickHouseUser,
			Password: en.ep.ClickHousePassword, ReadTimeout: 5 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close() })
		readers, _ := strconv.Atoi(os.Getenv("PANGATE_BENCH_READERS"))
		httpAddr := en.ep.ClickHouseHTTPAddr // the environment or .stack/env, as the other endpoints
		if os.Getenv("PANGATE_BENCH_NATIVE") == "1" {
			httpAddr = ""
		}
		if en.q, err = query.New(context.Background(), conn, query.Config{Addr: en.ep.ClickHouseAddr, Database: db, User: en.ep.ClickHouseUser,
			Password: en.ep.ClickHousePassword, Readers: readers, HTTPAddr: httpAddr}); err != nil {
			b.Fatal(err)
		}
	} else {
		res, err := seed.Run(context.Background(), en.ch, en.db, seed.Config{Events: n, From: from, Days: 30, Key: en.key, Prefix: en.db + "-"}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("seeded %d events (30 days) into %s in %s: %.0f events/s", res.Events, en.db, res.Elapsed.Round(time.Second),
			float64(res.Events)/res.Elapsed.Seconds())
	}
	bl := en.builder(bucket.NewLocal(b.TempDir()), to.Add(time.Hour))
	// The peak RSS when each stage starts: which stage set the peak (maxRSS only grows).
	rssAt := &stageRSS{}
	bl.Progress = rssAt
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// The floor, in the same run: clickhouse-client reading the columns the integrity check reads, for the
		// same sessions, into /dev/null (no reporter can read faster than ClickHouse serves them).
		floor, floorCPU := readFloor(b, en, from, to)
		rssBefore := maxRSS()
		start := time.Now()
		res, err := bl.Build(context.Background(), manifest.KindPackage, from, to)
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		floor2, floorCPU2 := readFloor(b, en, from, to)
		best := min(floor, floor2)
		b.ReportMetric(float64(res.Events)/el.Seconds(), "events/s")
		b.ReportMetric(el.Seconds()/best.Seconds(), "wall/floor")
		b.ReportMetric(float64(maxRSS())/1024, "peak_rss_MiB")
		b.Logf("floor (clickhouse-client, same columns and sessions, to /dev/null): %s and %s (ClickHouse CPU %s, %s); package %s = %.2f x the faster floor; peak RSS %d MiB (before the build %d MiB)",
			floor.Round(time.Millisecond), floor2.Round(time.Millisecond), floorCPU.Round(time.Millisecond), floorCPU2.Round(time.Millisecond),
			el.Round(time.Millisecond), el.Seconds()/best.Seconds(), maxRSS()/1024, rssBefore/1024)
		b.Logf("package of %d events: %s, integrity ok=%v (%d sessions, %d failures, %d warnings), %d exceptions, %d files",
			res.Events, el.Round(time.Millisecond), res.Integrity.OK, res.Integrity.Sessions, res.Integrity.Failures, res.Integrity.Warnings,
			res.Exceptions, len(res.Manifest.Files))
		// One log call: the benchmark's log keeps only its first lines.
		var stages []string
		for _, st := range res.Stages {
			if st.Elapsed > 500*time.Millisecond {
				stages = append(stages, fmt.Sprintf("%s %s", strings.TrimPrefix(st.Stage, "populations/"), st.Elapsed.Round(100*time.Millisecond)))
			}
		}
		b.Logf("stages over 0.5 s: %s", strings.Join(stages, ", "))
		b.Logf("peak RSS when the stage started: %s", strings.Join(rssAt.log, ", "))
		if !res.Integrity.OK {
			b.Fatalf("integrity failed on a generated store: %s", findingsText(res.Integrity))
		}
	}
}

// stageRSS notes the process's peak RSS as each stage of a build starts.
type stageRSS struct{ log []string }

func (s *stageRSS) Stage(name string) {
	s.log = append(s.log, fmt.Sprintf("%s %d MiB", strings.TrimPrefix(name, "populations/"), maxRSS()/1024))
}

func (s *stageRSS) Events(done, total int64) {}

// readFloor runs clickhouse-client reading RecordsSQL's columns for every session with an event in the
// period (what the integrity check reads) in Native format into /dev/null; it returns the wall time and the
// ClickHouse server's CPU meanwhile.
func readFloor(b *testing.B, en *env, from, to time.Time) (time.Duration, time.Duration) {
	b.Helper()
	q := fmt.Sprintf(`SELECT %s FROM %s.events
WHERE session IN (SELECT session FROM %s.events WHERE time >= toDateTime(%d) AND time < toDateTime(%d)) FORMAT Native`, query.RecordsColumns, en.db, en.db, from.Unix(), to.Unix())
	host, port, _ := strings.Cut(en.ep.ClickHouseAddr, ":")
	cmd := exec.Command("clickhouse-client", "--host", host, "--port", port, "--user", en.ep.ClickHouseUser, "--query", q)
	cmd.Env = append(os.Environ(), "CLICKHOUSE_PASSWORD="+en.ep.ClickHousePassword)
	if en.ep.ClickHousePassword != "" {
		cmd.Args = append(cmd.Args, "--password", en.ep.ClickHousePassword)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer devnull.Close()
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = devnull, &stderr
	cpu0 := serverCPU(b)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("clickhouse-client floor: %v: %s", err, stderr.String())
	}
	return time.Since(start), serverCPU(b) - cpu0
}

// serverCPU is the clickhouse-server process's user+system CPU (pid from the stack's run directory).
func serverCPU(tb testing.TB) time.Duration {
	root, err := stack.ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	pid, err := os.ReadFile(filepath.Join(root, ".stack", "run", "clickhouse.pid"))
	if err != nil {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat")
	if err != nil {
		return 0
	}
	st := string(stat)
	f := strings.Fields(st[strings.LastIndexByte(st, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	sy, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+sy) * (time.Second / 100)
}

// maxRSS is this process's peak resident set size in KiB.
func maxRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss
}

// BenchmarkIntegrity30Days is the package's integrity stage alone (checkpoints, sessions, raw records
// streamed and verified: what build does for integrity/integrity.json) over the same store and period,
// beside the clickhouse-client floor; same environment variables as BenchmarkPackage30Days.
func BenchmarkIntegrity30Days(b *testing.B) {
	if os.Getenv("PANGATE_BENCH_DB") != "" {
		b.Setenv("PANGATE_KEEP_DB", "1") // before newEnvWith: its cleanup must not drop the reused database
	}
	en := newEnvWith(b, false)
	en.key = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	en.pub = en.key.Public().(ed25519.PublicKey)
	if kp := os.Getenv("PANGATE_BENCH_KEY"); kp != "" {
		k, err := audit.LoadKey(kp)
		if err != nil {
			b.Fatal(err)
		}
		en.key, en.pub = k, k.Public().(ed25519.PublicKey)
	}
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 30)
	if db := os.Getenv("PANGATE_BENCH_DB"); db != "" {
		en.useDatabase(db)
	} else if _, err := seed.Run(context.Background(), en.ch, en.db, seed.Config{Events: envEvents(b), From: from, Days: 30, Key: en.key, Prefix: en.db + "-"}, nil); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		floor, floorCPU := readFloor(b, en, from, to)
		rss0 := maxRSS()
		start := time.Now()
		// The package's integrity stage itself (build.Integrity).
		chunk := 0 // query.DefaultChunk
		if v, err := strconv.Atoi(os.Getenv("PANGATE_BENCH_CHUNK")); err == nil {
			chunk = v
		}
		cpu0 := serverCPU(b)
		rep, err := build.Integrity(ctx, en.q, integrity.Config{From: from, To: to, Keys: map[string]ed25519.PublicKey{schemas.KeyID(en.pub): en.pub},
			Now: func() time.Time { return to.Add(time.Hour) }}, 15*time.Minute, chunk, nil)
		if err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		chCPU := serverCPU(b) - cpu0
		floor2, _ := readFloor(b, en, from, to)
		best := min(floor, floor2)
		b.ReportMetric(el.Seconds()/best.Seconds(), "wall/floor")
		b.ReportMetric(float64(rep.Events)/el.Seconds(), "events/s")
		b.ReportMetric(float64(maxRSS())/1024, "peak_rss_MiB")
		b.Logf("integrity of %d events (%d chains, %d gateway runs): %s, %d failures, %d warnings; ClickHouse CPU meanwhile %s (range %d events, 0: query.DefaultChunk)",
			rep.Events, rep.Sessions, len(rep.Runs), el.Round(time.Millisecond), rep.Failures, rep.Warnings, chCPU.Round(time.Millisecond), chunk)
		b.Logf("floor (clickhouse-client, same columns and sessions, to /dev/null): %s and %s (ClickHouse CPU %s); integrity = %.2f x the faster floor; peak RSS %d MiB (before %d MiB)",
			floor.Round(time.Millisecond), floor2.Round(time.Millisecond), floorCPU.Round(time.Millisecond), el.Seconds()/best.Seconds(), maxRSS()/1024, rss0/1024)
		if rep.Failures != 0 {
			b.Fatalf("integrity failed on a seeded store: %s", findingsText(rep))
		}
	}
}

func envEvents(b *testing.B) int {
	n := 1_000_000
	if s := os.Getenv("PANGATE_BENCH_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("PANGATE_BENCH_EVENTS=%q: %v", s, err)
		}
		n = v
	}
	return n
}
