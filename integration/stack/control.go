package stack

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// StopKafka stops the stack's Kafka broker with the stack's own tool
// (`go run ./deploy/local down kafka`) and returns once the broker no longer
// answers. The test takes Kafka exclusively (see the package doc); if it ends
// with the broker stopped, its cleanup starts the broker again.
func StopKafka(t testing.TB) {
	t.Helper()
	holdExclusive(t, kafkaService, func() { StartKafka(t) })
	runTool(t, "down", kafkaService)
	waitKafka(t, false)
}

// StartKafka starts the stack's Kafka broker (`go run ./deploy/local up kafka`)
// and returns once it answers a metadata request.
func StartKafka(t testing.TB) {
	t.Helper()
	runTool(t, "up", kafkaService)
	waitKafka(t, true)
}

// StopClickHouse stops the stack's ClickHouse server and returns once it no
// longer answers. The test takes ClickHouse exclusively (see the package doc);
// if it ends with the server stopped, its cleanup starts the server again.
func StopClickHouse(t testing.TB) {
	t.Helper()
	holdExclusive(t, clickHouseService, func() { StartClickHouse(t) })
	runTool(t, "down", clickHouseService)
	waitClickHouse(t, false)
}

// StartClickHouse starts the stack's ClickHouse server and returns once it
// answers a query over the native protocol.
func StartClickHouse(t testing.TB) {
	t.Helper()
	runTool(t, "up", clickHouseService)
	waitClickHouse(t, true)
}

// toolTimeout bounds one start or stop; a start may compile the tool first.
const toolTimeout = 5 * time.Minute

func runTool(t testing.TB, verb, service string) {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "run", "./deploy/local", verb, service)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PANGATE_STACK_QUIET=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("stack: go run ./deploy/local %s %s: %v\n%s", verb, service, err, out)
	}
	t.Logf("stack: %s %s: %s", verb, service, strings.TrimSpace(string(out)))
}

func waitKafka(t testing.TB, up bool) {
	t.Helper()
	e := Env(t)
	waitFor(t, "Kafka", up, func(ctx context.Context) error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.KafkaBrokers...))
		if err != nil {
			return err
		}
		defer cl.Close()
		return cl.Ping(ctx)
	})
}

func waitClickHouse(t testing.TB, up bool) {
	t.Helper()
	e := Env(t)
	waitFor(t, "ClickHouse", up, func(ctx context.Context) error {
		conn, err := clickhouse.Open(&clickhouse.Options{
			Addr:        []string{e.ClickHouseAddr},
			Auth:        clickhouse.Auth{Username: e.ClickHouseUser, Password: e.ClickHousePassword},
			DialTimeout: 2 * time.Second,
		})
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Exec(ctx, "SELECT 1")
	})
}

// waitFor polls probe until it succeeds (up) or fails (!up), within a deadline.
func waitFor(t testing.TB, service string, up bool, probe func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		last = probe(ctx)
		cancel()
		if (last == nil) == up {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	if up {
		t.Fatalf("stack: %s did not come up within 2m: %v", service, last)
	}
	t.Fatalf("stack: %s still answers 2m after it was stopped", service)
}
