package indexer_test

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// outagePause is how long ClickHouse stays down: 10 s by default to keep the suite short (the issue asks for
// 30 s: run with PANGATE_INDEXER_OUTAGE=30s). It must exceed the indexer's 5 s lag refresh.
func outagePause(t *testing.T) time.Duration {
	if v := os.Getenv("PANGATE_INDEXER_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PANGATE_INDEXER_OUTAGE=%q: %v", v, err)
		}
		return d
	}
	return 10 * time.Second
}

// TestClickHouseOutage stops ClickHouse while events stream in: the indexer keeps retrying, reports itself
// not ready with the lag growing, loses nothing, and catches up once ClickHouse is back.
//
// Not parallel: it takes ClickHouse away from every other test (integration/stack makes them wait).
func TestClickHouseOutage(t *testing.T) {
	en := newEnv(t)
	p := en.start()
	var addr string
	select {
	case addr = <-p.addr:
	case <-time.After(30 * time.Second):
		t.Fatal("indexer did not report its listen address")
	}
	first := session(10, time.Now())
	en.produce(schemas.TopicAudit, first...)
	en.waitCount(30*time.Second, uint64(len(first)), "SELECT count() FROM events FINAL")

	var produced atomic.Int64
	var prodErr atomic.Value
	produced.Store(int64(len(first)))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			// About 200 events/s: StopClickHouse may first wait minutes for other packages' tests to release
			// ClickHouse, and the backlog must stay small enough to catch up within the deadline.
			evs := session(20, time.Now())
			if err := en.tryProduce(en.encode(schemas.TopicAudit, evs...)...); err != nil {
				prodErr.Store(err)
				return
			}
			produced.Add(int64(len(evs)))
		}
	}()

	stack.StopClickHouse(t)
	down := time.Now()
	pause := outagePause(t)
	// While ClickHouse is down the indexer must say so: /readyz 503 and a growing consumer lag.
	var sawUnready, sawLag bool
	for time.Since(down) < pause {
		if code, _ := get("http://" + addr + "/readyz"); code == http.StatusServiceUnavailable {
			sawUnready = true
		}
		if _, body := get("http://" + addr + "/metrics"); metricSum(body, "pangate_indexer_consumer_lag") > 0 &&
			metricSum(body, "pangate_indexer_clickhouse_write_errors_total") > 0 {
			sawLag = true
		}
		time.Sleep(250 * time.Millisecond)
	}
	stack.StartClickHouse(t)
	t.Logf("ClickHouse was down for %s", time.Since(down).Round(time.Millisecond))
	time.Sleep(time.Second) // keep producing a little after the restart
	close(stop)
	wg.Wait()
	if err := prodErr.Load(); err != nil {
		t.Fatalf("producer: %v", err)
	}
	if !sawUnready {
		t.Error("/readyz never reported 503 while ClickHouse was down")
	}
	if !sawLag {
		t.Error("consumer lag and write errors never showed on /metrics while ClickHouse was down")
	}
	want := uint64(produced.Load())
	en.waitCount(60*time.Second, want, "SELECT count() FROM events FINAL")
	if n := en.count("SELECT uniqExact(event_id) FROM events FINAL"); n != want {
		t.Errorf("distinct events %d, want %d", n, want)
	}
	if n := en.count("SELECT count() FROM dead_letters FINAL"); n != 0 {
		t.Errorf("dead letters %d", n)
	}
	t.Logf("%d events, none lost", want)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, _ := get("http://" + addr + "/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz not 200 after ClickHouse came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop(t)
}

func get(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return resp.StatusCode, b.String()
}

// metricSum adds every sample of a metric in a Prometheus text exposition.
func metricSum(body, name string) float64 {
	var sum float64
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			sum += v
		}
	}
	return sum
}
