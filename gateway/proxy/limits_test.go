package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// receiveError reads backend messages until an ErrorResponse (or fails the test on anything that ends the
// stream first).
func receiveError(t *testing.T, fe *pgproto3.Frontend) *pgproto3.ErrorResponse {
	t.Helper()
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("no ErrorResponse: %v", err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			return e
		}
	}
}

// TestMaxConnections: with limits.max_connections 1, a second client while the first is connected gets
// FATAL 53300 naming the limit and the setting; once the first leaves, a new client gets in.
func TestMaxConnections(t *testing.T) {
	h := newHarness(t)
	h.srv.cfg.MaxConnections = 1
	h.srv.slots = make(chan struct{}, 1)
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
	login := func() (*pgproto3.Frontend, net.Conn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		must(t, err)
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fe := pgproto3.NewFrontend(c, c)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "reader@t"}})
		must(t, fe.Flush())
		return fe, c
	}
	fe1, c1 := login()
	if _, ok := mustReceive(t, fe1).(*pgproto3.AuthenticationCleartextPassword); !ok {
		t.Fatal("first client not asked for a password")
	}
	fe1.Send(&pgproto3.PasswordMessage{Password: "good"})
	must(t, fe1.Flush())
	untilReady(t, fe1)

	fe2, _ := login()
	e := receiveError(t, fe2)
	if e.Severity != "FATAL" || e.Code != "53300" || !strings.Contains(e.Message, "limit 1") || !strings.Contains(e.Message, "limits.max_connections") {
		t.Fatalf("second client: %s %s %q", e.Severity, e.Code, e.Message)
	}

	fe1.Send(&pgproto3.Terminate{})
	must(t, fe1.Flush())
	_ = c1.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.Copy(io.Discard, c1) // until the gateway closes the first session
	// The slot is released after the session's end is recorded; poll with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		fe3, c3 := login()
		msg := mustReceive(t, fe3)
		if _, ok := msg.(*pgproto3.AuthenticationCleartextPassword); ok {
			return
		}
		c3.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no slot after the first client left: %#v", msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustReceive(t *testing.T, fe *pgproto3.Frontend) pgproto3.BackendMessage {
	t.Helper()
	msg, err := fe.Receive()
	must(t, err)
	return msg
}

// TestIdleTimeout: a logged-in client that sends nothing for limits.idle_timeout gets FATAL 57P05 naming
// the setting, and the connection is closed.
func TestIdleTimeout(t *testing.T) {
	h := newHarness(t)
	h.srv.cfg.IdleTimeout = 100 * time.Millisecond
	fe, c, _ := h.client(t, "good")
	untilReady(t, fe)
	e := receiveError(t, fe)
	if e.Severity != "FATAL" || e.Code != "57P05" || !strings.Contains(e.Message, "limits.idle_timeout") {
		t.Fatalf("idle: %s %s %q", e.Severity, e.Code, e.Message)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("connection not closed after the idle timeout: %v", err)
	}
}

// TestStartupTimeout: a client that opens a connection and sends nothing is cut after
// limits.startup_timeout (the gateway closes the connection; no role is issued).
func TestStartupTimeout(t *testing.T) {
	h := newHarness(t)
	h.srv.cfg.StartupTimeout = 100 * time.Millisecond
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); h.srv.handle(context.Background(), b) }()
	t.Cleanup(func() { a.Close(); <-done })
	_ = a.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf [256]byte
	for {
		_, err := a.Read(buf[:])
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("a silent client was not cut within 10s (startup timeout 100ms)")
		}
		break // EOF / closed pipe: the gateway hung up
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("session goroutine still running")
	}
	if h.creds.issued.Load() != 0 {
		t.Fatal("a role was issued for a client that never started")
	}
}
