package gateway_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// metric reads one sample (name with its labels exactly as exposed, e.g.
// `pangate_gateway_refusals_total{reason="cancel_rate"}`) from the gateway's ops /metrics; 0 if absent.
func (g *gw) metric(t *testing.T, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + g.Ops + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s/metrics: %v", g.Ops, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", sample, v)
			}
			return f
		}
	}
	return 0
}

// logins runs n pgx logins (connect over TLS with a fresh token, SELECT 1, close), four at a time, and
// returns how many succeeded, the errors and the slowest.
func logins(t *testing.T, g *gw, role string, n int) (ok int, errs []error, slowest time.Duration) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := func() error {
				c, err := pgx.Connect(ctx, g.dsn(role, g.token(fmt.Sprintf("ci-preauth-%d", i)), "require"))
				if err != nil {
					return err
				}
				defer c.Close(context.Background())
				var one int
				return c.QueryRow(ctx, "SELECT 1").Scan(&one)
			}()
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			ok++
			slowest = max(slowest, d)
		}(i)
	}
	wg.Wait()
	return ok, errs, slowest
}

// TestLoginsDuringIdleSocketFlood is issue 13.4's first flood through the real gateway with its default
// limits (max_unauthenticated 64, startup_timeout 30s in this harness): 250 sockets that never send a byte
// stay open, and real pgx clients still log in; the idle sockets never hold more than 64 slots and the
// evictions are counted.
func TestLoginsDuringIdleSocketFlood(t *testing.T) {
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	var idle []net.Conn
	for i := 0; i < 250; i++ {
		c, err := net.Dial("tcp", g.Addr)
		must(t, err)
		idle = append(idle, c)
	}
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for g.metric(t, `pangate_gateway_refusals_total{reason="unauthenticated_evicted"}`) < 250-64 {
		if time.Now().After(deadline) {
			t.Fatalf("evictions: %g, want at least %d", g.metric(t, `pangate_gateway_refusals_total{reason="unauthenticated_evicted"}`), 250-64)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if w := g.metric(t, "pangate_gateway_unauthenticated_connections"); w > 64 {
		t.Errorf("%g connections waiting to authenticate, limit 64", w)
	}
	ok, errs, slowest := logins(t, g, f.Role, 20)
	t.Logf("during 250 idle sockets: %d/20 logins, slowest %s; evicted %g, refused %g", ok, slowest,
		g.metric(t, `pangate_gateway_refusals_total{reason="unauthenticated_evicted"}`),
		g.metric(t, `pangate_gateway_refusals_total{reason="max_unauthenticated"}`))
	if ok != 20 {
		t.Fatalf("%d of 20 logins failed during the idle-socket flood: %v", 20-ok, errs)
	}
	// The idle sockets that were evicted were told why (53300), so a confused real client would know too.
	_ = idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, _ := idle[0].Read(buf)

	if !strings.Contains(string(buf[:n]), "53300") || !strings.Contains(string(buf[:n]), "waiting to authenticate") {
		t.Errorf("evicted idle socket read %q, want FATAL 53300", buf[:n])
	}
}

// TestLoginsDuringCancelFlood is issue 13.4's second flood: 2000 CancelRequests with random keys, sent as
// fast as eight senders can, while real pgx clients log in. With the default limits.cancel_rate (50/s,
// burst 100) the gateway forwards at most burst + rate × elapsed of them to the target and drops the rest
// silently, counted.
func TestLoginsDuringCancelFlood(t *testing.T) {
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	const total = 2000
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= total {
				c, err := net.Dial("tcp", g.Addr)
				if err != nil {
					t.Errorf("dial for cancel: %v", err)
					return
				}
				var pkt [16]byte
				binary.BigEndian.PutUint32(pkt[0:], 16)
				binary.BigEndian.PutUint32(pkt[4:], 80877102)
				binary.BigEndian.PutUint64(pkt[8:], rand.Uint64())
				_, _ = c.Write(pkt[:])
				c.Close()
			}
		}()
	}
	ok, errs, slowest := logins(t, g, f.Role, 20)
	wg.Wait()
	flood := time.Since(start)
	forwarded := func() float64 { return g.metric(t, `pangate_gateway_cancel_requests_total{outcome="forwarded"}`) }
	dropped := func() float64 { return g.metric(t, `pangate_gateway_cancel_requests_total{outcome="dropped"}`) }
	deadline := time.Now().Add(10 * time.Second)
	for forwarded()+dropped() < total {
		if time.Now().After(deadline) {
			t.Fatalf("cancels counted: forwarded %g + dropped %g, want %d", forwarded(), dropped(), total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start).Seconds()
	t.Logf("%d CancelRequests in %s: forwarded %g, dropped %g; %d/20 logins during the flood, slowest %s",
		total, flood.Round(time.Millisecond), forwarded(), dropped(), ok, slowest)
	if ok != 20 {
		t.Fatalf("%d of 20 logins failed during the cancel flood: %v", 20-ok, errs)
	}
	if limit := 100 + 50*elapsed; forwarded() > limit {
		t.Errorf("forwarded %g cancels in %.2fs, more than burst 100 + 50/s (%.0f)", forwarded(), elapsed, limit)
	}
	if d := g.metric(t, `pangate_gateway_refusals_total{reason="cancel_rate"}`); d != dropped() || d < total-100-50*elapsed {
		t.Errorf("refusals{reason=cancel_rate} %g, dropped %g, over %.2fs", d, dropped(), elapsed)
	}
}
