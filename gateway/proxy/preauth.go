package proxy

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Pre-authentication limits (docs/deploy.md, "Pre-authentication limits"). A connection costs the gateway a
// max_connections slot from accept; before it has authenticated it costs the attacker nothing but a socket.
// So at most MaxUnauthenticated connections may be waiting to authenticate. When a new one arrives over
// that limit the gateway closes the oldest waiting connection that has sent nothing yet (not even bytes still
// unread in the kernel), or, failing that, the oldest that has waited longer than evictAfter; only when
// every waiting connection is young and talking for admitWait is the newcomer refused (FATAL 53300). Idle
// sockets therefore cannot keep real clients out, and a flood of talking ones only takes the slots for as
// long as evictAfter.
//
// CancelRequests are rate limited (token bucket CancelRate per second, CancelBurst): each forwarded one
// opens a connection to every target. Excess ones are dropped silently, as PostgreSQL does with a cancel
// whose key is wrong, so a client learns nothing from the drop.

// evictAfter is how long a waiting connection that has already spoken is safe from eviction: real clients
// finish TLS, startup and the token check well within it.
const evictAfter = 2 * time.Second

// admitWait is how long a newcomer waits for a slot before it is refused.
const admitWait = time.Second

// pendingConn is a connection that has not authenticated yet.
type pendingConn struct {
	c     net.Conn // the accepted connection, to close on eviction
	key   net.Conn // its key in preauth.byConn: c, then the replaying connection handed to the session
	since time.Time
	spoke atomic.Bool // its first startup packet header arrived
}

// preauth tracks the connections waiting to authenticate.
type preauth struct {
	mu      sync.Mutex
	max     int
	byConn  map[net.Conn]*pendingConn
	evictAt time.Duration
}

// admitWithin admits c, waiting up to wait for a slot when every waiting connection is young and talking
// (a flood of CancelRequests whose goroutines lag behind accept frees its slots within milliseconds).
func (p *preauth) admitWithin(c net.Conn, wait time.Duration) (pc, victim *pendingConn, ok bool) {
	deadline := time.Now().Add(wait)
	for {
		now := time.Now()
		if pc, victim, ok = p.admit(c, now); ok || now.After(deadline) {
			return pc, victim, ok
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// admit registers c as waiting to authenticate. Over the limit it evicts a victim (returned, to be closed by
// the caller) or refuses c (ok false).
func (p *preauth) admit(c net.Conn, now time.Time) (pc, victim *pendingConn, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.byConn) >= p.max {
		var silent, stale *pendingConn
		for _, q := range p.byConn {
			if !q.spoke.Load() && hasPendingBytes(q.c) {
				q.spoke.Store(true) // sent its first bytes; its goroutine just has not read them yet
			}
			if !q.spoke.Load() {
				if silent == nil || q.since.Before(silent.since) {
					silent = q
				}
			} else if now.Sub(q.since) >= p.evictAt && (stale == nil || q.since.Before(stale.since)) {
				stale = q
			}
		}
		victim = silent
		if victim == nil {
			victim = stale
		}
		if victim == nil {
			return nil, nil, false
		}
		delete(p.byConn, victim.key)
	}
	pc = &pendingConn{c: c, key: c, since: now}
	p.byConn[c] = pc
	return pc, victim, true
}

// rekey moves the entry of old to c (the connection handed to the session, which replays the peeked bytes).
func (p *preauth) rekey(old, c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc, ok := p.byConn[old]; ok {
		delete(p.byConn, old)
		pc.key = c
		p.byConn[c] = pc
	}
}

// done removes c (authenticated, or gone); it reports whether c was still waiting.
func (p *preauth) done(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.byConn[c]
	delete(p.byConn, c)
	return ok
}

// closeAll closes every waiting connection (shutdown: nobody waits out its startup timeout).
func (p *preauth) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pc := range p.byConn {
		_ = pc.c.Close()
	}
}

func (p *preauth) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byConn)
}

// prefixConn replays bytes already read from the connection before reading on.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// peekCancel reads the first startup packet header of c. A plaintext CancelRequest is served here (rate
// limited) and reported as handled; anything else is returned as a connection that replays what was read.
func (s *Server) peekCancel(c net.Conn, pc *pendingConn) (net.Conn, bool) {
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.StartupTimeout))
	var hdr [8]byte
	n, err := io.ReadFull(c, hdr[:])
	if n > 0 {
		pc.spoke.Store(true)
	}
	if err == nil && binary.BigEndian.Uint32(hdr[:4]) == 16 && binary.BigEndian.Uint32(hdr[4:]) == codeCancel {
		var key [8]byte
		if _, err := io.ReadFull(c, key[:]); err == nil && s.CancelAllowed() {
			s.forwardCancel(binary.BigEndian.Uint32(key[:4]), binary.BigEndian.Uint32(key[4:]))
		}
		return c, true
	}
	return &prefixConn{Conn: c, prefix: hdr[:n]}, false
}

// CancelAllowed takes a token from the CancelRequest bucket, counting the request as forwarded or dropped.
// Plaintext CancelRequests are checked in the accept path; a CancelRequest sent after TLS negotiation
// reaches the session's startup and must be checked there the same way before forwardCancel.
func (s *Server) CancelAllowed() bool {
	if s.cancelLimit.Allow() {
		s.m.cancels.WithLabelValues("forwarded").Inc()
		return true
	}
	s.m.cancels.WithLabelValues("dropped").Inc()
	s.m.refusals.WithLabelValues("cancel_rate").Inc()
	return false
}

// evict closes a waiting connection to make room: with a FATAL 53300 if it has sent nothing (so no TLS
// stream can be corrupted), silently otherwise.
func (s *Server) evict(v *pendingConn) {
	s.m.refusals.WithLabelValues("unauthenticated_evicted").Inc()
	if !v.spoke.Load() {
		_ = v.c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = v.c.Write(errorFrame(sqlstateTooManyConnections, "FATAL",
			"pangate: too many connections waiting to authenticate; this one had sent nothing and was closed"))
	}
	_ = v.c.Close()
}

// authenticated releases c's pre-authentication slot (called once the session has authenticated).
func (s *Server) authenticated(c net.Conn) {
	if s.pre.done(c) {
		s.m.unauth.Set(float64(s.pre.count()))
	}
}
