package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/pangate/pangate/gateway/hold"
)

// A held statement may run only while its client is there to receive the result (issue 13.5): while the
// client goroutine waits for the approval, a watcher peeks at the client connection without consuming
// anything. End of stream, a read error or a Terminate message withdraws the approval (hold.ErrClientGone);
// a CancelRequest for the session (a client-side timeout or cancel) withdraws it too (hold.ErrClientTimeout).
// Either way the statement is refused and never forwarded.

// holdWait is the context a held statement's approval request runs under.
type holdWait struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{} // the watcher has stopped
	stopMu sync.Mutex
	stop   bool
}

// watchHold starts watching the client while a statement is held. Call stop when the request returns.
func (ss *session) watchHold() *holdWait {
	ctx, cancel := context.WithCancelCause(context.Background())
	w := &holdWait{ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go func() {
		select {
		case <-ss.closed:
			cancel(hold.ErrClientGone)
		case <-ctx.Done():
		}
	}()
	ss.held.Store(w)
	go func() {
		defer close(w.done)
		if err := ss.cr.watchGone(); err != nil {
			w.stopMu.Lock()
			stopping := w.stop
			w.stopMu.Unlock()
			if !stopping {
				cancel(hold.ErrClientGone)
			}
		}
	}()
	return w
}

// stopHold ends the watcher before the client goroutine reads again: a read deadline in the past wakes
// its Peek, whose timeout error bufio hands to the watcher alone.
func (ss *session) stopHold(w *holdWait) {
	w.stopMu.Lock()
	w.stop = true
	w.stopMu.Unlock()
	ss.held.Store((*holdWait)(nil))
	_ = ss.conn.SetReadDeadline(time.Now())
	<-w.done
	_ = ss.conn.SetReadDeadline(time.Time{})
	w.cancel(nil)
}

// cancelHeld withdraws the approval a session of this instance waits for, when a CancelRequest names
// the session's upstream backend. It reports whether one was waiting.
func (s *Server) cancelHeld(upid, usecret uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		if !ss.upKeyOK || ss.upKeyPID != upid || ss.upKeySecret != usecret {
			continue
		}
		if w, _ := ss.held.Load().(*holdWait); w != nil {
			w.cancel(hold.ErrClientTimeout)
			return true
		}
	}
	return false
}

// watchGone blocks until the client closes the connection, fails, or sends Terminate, returning a
// non-nil error then; it returns nil once the read buffer is full (nothing more can be watched without
// consuming). It only peeks: every byte stays for the next call to next.
func (f *frameReader) watchGone() error {
	for {
		n := f.r.Buffered()
		if n >= f.r.Size() {
			return nil
		}
		if _, err := f.r.Peek(n + 1); err != nil {
			return err
		}
		if b, _ := f.r.Peek(f.r.Buffered()); terminates(b) {
			return errTerminated
		}
	}
}

var errTerminated = errors.New("client sent Terminate")

// terminates reports whether the complete frames at the start of b include a Terminate ('X').
func terminates(b []byte) bool {
	for len(b) >= 5 {
		if b[0] == 'X' {
			return true
		}
		n := int(binary.BigEndian.Uint32(b[1:5]))
		if n < 4 || n+1 > len(b) {
			return false
		}
		b = b[n+1:]
	}
	return false
}
