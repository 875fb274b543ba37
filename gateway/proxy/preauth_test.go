package proxy

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/time/rate"
)

// serve runs h's server on a loopback listener until the test ends.
func serve(t *testing.T, h *harness) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		sctx, c2 := context.WithTimeout(context.Background(), 5*time.Second)
		defer c2()
		_ = h.srv.Shutdown(sctx)
		<-served
	})
	return ln.Addr().String()
}

// loginOK logs in with the harness's good password and waits for ReadyForQuery.
func loginOK(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	must(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "reader@t"}})
	must(t, fe.Flush())
	if m, ok := mustReceive(t, fe).(*pgproto3.AuthenticationCleartextPassword); !ok {
		t.Fatalf("not asked for a password: %#v", m)
	}
	fe.Send(&pgproto3.PasswordMessage{Password: "good"})
	must(t, fe.Flush())
	untilReady(t, fe)
	fe.Send(&pgproto3.Terminate{})
	_ = fe.Flush()
}

func dialIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		must(t, err)
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIdleSocketsDoNotLockOutClients is the regression test of issue 13.4's idle-socket flood: with
// limits.max_unauthenticated 4, twenty sockets that never send a byte cannot keep a client from logging in
// (the oldest silent one is closed with FATAL 53300 to make room), and never hold more than 4 slots.
func TestIdleSocketsDoNotLockOutClients(t *testing.T) {
	h := newHarness(t)
	h.srv.pre.max = 4
	addr := serve(t, h)
	idle := dialIdle(t, addr, 20)
	waitFor(t, "the idle sockets to be accepted", func() bool {
		return value(h.srv.m.refusals.WithLabelValues("unauthenticated_evicted")) >= 16
	})
	if n := h.srv.pre.count(); n > 4 {
		t.Fatalf("%d connections waiting to authenticate, limit 4", n)
	}
	for i := 0; i < 5; i++ {
		loginOK(t, addr)
	}
	// An evicted idle socket was told why.
	_ = idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	fe := pgproto3.NewFrontend(idle[0], idle[0])
	e := receiveError(t, fe)
	if e.Code != "53300" || !strings.Contains(e.Message, "waiting to authenticate") {
		t.Errorf("evicted socket got %s %q", e.Code, e.Message)
	}
	if g := value(h.srv.m.unauth); g > 4 {
		t.Errorf("gauge pangate_gateway_unauthenticated_connections = %g, limit 4", g)
	}
}

// TestUnauthenticatedLimitRefusesWhenAllAreTalking: when every waiting connection has spoken and is younger
// than evictAfter, a newcomer gets FATAL 53300 naming the limit and the setting, and the refusal is counted.
func TestUnauthenticatedLimitRefusesWhenAllAreTalking(t *testing.T) {
	h := newHarness(t)
	h.srv.pre.max = 2
	h.srv.pre.evictAt = time.Hour
	addr := serve(t, h)
	for _, c := range dialIdle(t, addr, 2) {
		// An SSLRequest (answered 'N'): the connection has spoken, then stalls before its StartupMessage.
		var pkt [8]byte
		binary.BigEndian.PutUint32(pkt[:4], 8)
		binary.BigEndian.PutUint32(pkt[4:], codeSSL)
		_, err := c.Write(pkt[:])
		must(t, err)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil || b[0] != 'N' {
			t.Fatalf("SSLRequest answer %q %v", b, err)
		}
	}
	c, err := net.Dial("tcp", addr)
	must(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "reader@t"}})
	must(t, fe.Flush())
	e := receiveError(t, fe)
	if e.Severity != "FATAL" || e.Code != "53300" || !strings.Contains(e.Message, "waiting to authenticate (limit 2)") || !strings.Contains(e.Message, "limits.max_unauthenticated") {
		t.Fatalf("newcomer: %s %s %q", e.Severity, e.Code, e.Message)
	}
	if n := value(h.srv.m.refusals.WithLabelValues("max_unauthenticated")); n != 1 {
		t.Errorf("refusals{reason=max_unauthenticated} = %g, want 1", n)
	}
}

// TestCancelFloodIsRateLimited is the regression test of issue 13.4's CancelRequest flood: with a bucket of
// burst 3 and a negligible rate, 40 CancelRequests forward 3 (each to every target) and drop the rest
// silently, counted as dropped; a client still logs in during the flood.
func TestCancelFloodIsRateLimited(t *testing.T) {
	h := newHarness(t)
	h.srv.cancelLimit = rate.NewLimiter(rate.Limit(0.001), 3)
	// The target's cancel port: count the CancelRequests that reach it.
	up, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer up.Close()
	var reached atomic.Int64
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if code, _, err := readStartup(c); err == nil && code == codeCancel {
					reached.Add(1)
				}
			}()
		}
	}()
	h.srv.cfg.Targets[0].Host, h.srv.cfg.Targets[0].Port = "127.0.0.1", up.Addr().(*net.TCPAddr).Port
	addr := serve(t, h)
	for i := 0; i < 40; i++ {
		c, err := net.Dial("tcp", addr)
		must(t, err)
		var pkt [16]byte
		binary.BigEndian.PutUint32(pkt[0:], 16)
		binary.BigEndian.PutUint32(pkt[4:], codeCancel)
		binary.BigEndian.PutUint32(pkt[8:], uint32(i))
		binary.BigEndian.PutUint32(pkt[12:], 7)
		_, err = c.Write(pkt[:])
		must(t, err)
		c.Close()
		if i == 20 {
			loginOK(t, addr)
		}
	}
	waitFor(t, "40 cancels counted", func() bool {
		return value(h.srv.m.cancels.WithLabelValues("forwarded"))+value(h.srv.m.cancels.WithLabelValues("dropped")) == 40
	})
	if f := value(h.srv.m.cancels.WithLabelValues("forwarded")); f != 3 {
		t.Errorf("cancels forwarded = %g, want the burst of 3", f)
	}
	if d := value(h.srv.m.refusals.WithLabelValues("cancel_rate")); d != 37 {
		t.Errorf("refusals{reason=cancel_rate} = %g, want 37", d)
	}
	waitFor(t, "3 cancels at the target", func() bool { return reached.Load() == 3 })
	time.Sleep(200 * time.Millisecond)
	if n := reached.Load(); n != 3 {
		t.Errorf("%d CancelRequests reached the target, want 3", n)
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}
