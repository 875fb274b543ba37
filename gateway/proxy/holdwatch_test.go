package proxy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pangate/pangate/gateway/hold"
	"github.com/pangate/pangate/schemas"
)

// causeHolder never decides; it reports why its request's context ended.
type causeHolder struct {
	asked chan schemas.ApprovalRequested
	cause chan error
}

func (c causeHolder) Request(ctx context.Context, req schemas.ApprovalRequested) (hold.Decision, error) {
	c.asked <- req
	<-ctx.Done()
	c.cause <- context.Cause(ctx)
	// A decision arriving as the client leaves must not make anything run.
	return hold.Decision{Outcome: hold.Approved, By: "ULATE"}, nil
}

// TestHeldStatementWithdrawnWhenClientLeaves pins issue 13.5: a client killed, disconnecting, sending
// Terminate or cancelling while its statement waits for approval withdraws the approval, and the
// statement never reaches the server.
func TestHeldStatementWithdrawnWhenClientLeaves(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leave func(t *testing.T, h *harness, fe *pgproto3.Frontend, closeConn func())
		want  error
	}{
		{"connection closed", func(t *testing.T, h *harness, fe *pgproto3.Frontend, closeConn func()) { closeConn() }, hold.ErrClientGone},
		{"terminate", func(t *testing.T, h *harness, fe *pgproto3.Frontend, closeConn func()) {
			fe.Send(&pgproto3.Terminate{})
			must(t, fe.Flush())
		}, hold.ErrClientGone},
		{"cancel request", func(t *testing.T, h *harness, fe *pgproto3.Frontend, closeConn func()) {
			if !h.srv.cancelHeld(4242, 7) {
				t.Fatal("the cancel found no held statement")
			}
		}, hold.ErrClientTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessPolicy(t, denyPolicy{})
			ch := causeHolder{asked: make(chan schemas.ApprovalRequested, 1), cause: make(chan error, 1)}
			h.srv.deps.Holder = ch
			fe, conn, _ := h.client(t, "good")
			untilReady(t, fe)
			fe.Send(&pgproto3.Query{String: "SELECT hold_me FROM cards"})
			must(t, fe.Flush())
			if msg, err := fe.Receive(); err != nil {
				t.Fatal(err)
			} else if _, ok := msg.(*pgproto3.NoticeResponse); !ok {
				t.Fatalf("got %T, want the hold notice", msg)
			}
			select {
			case <-ch.asked:
			case <-time.After(10 * time.Second):
				t.Fatal("the statement was never held")
			}
			tc.leave(t, h, fe, func() { _ = conn.Close() })
			select {
			case cause := <-ch.cause:
				if !errors.Is(cause, tc.want) {
					t.Fatalf("approval request ended with cause %v, want %v", cause, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the approval was not withdrawn")
			}
			deadline := time.After(300 * time.Millisecond)
			for {
				select {
				case got := <-h.pg.got:
					if strings.Contains(got, "hold_me") {
						t.Fatalf("the held statement reached the server: %q", got)
					}
					continue
				case <-deadline:
				}
				break
			}
		})
	}
}
