package proxy

import "io"

// maxPending is the most bytes clientWriter gathers before it writes without being flushed: a bound on
// memory per session, far above one upstream read (16 KiB).
const maxPending = 64 << 10

// clientWriter gathers the bytes released to the client and sends them in one write when flushed. The
// relay flushes when the upstream read buffer is drained (fromUpstream) and whenever the gateway answers on
// its own (notices, refusals, FATAL), so every burst of backend messages the server sent together — a whole
// small result, or one 16 KiB read of a large one — leaves in one system call, as pgbouncer and pgx do,
// where a fixed 8 KiB bufio.Writer wrote every time it filled. Nothing is held back: bytes wait only for
// input already read from upstream, and go out as soon as that is processed (write-ahead, docs/invariants.md
// invariant 1, is decided before bytes get here: gated results are released only after their event).
//
// The buffer is allocated on first use; one grown past keepBufferBytes is dropped at the first burst that
// fits in keepBufferBytes, so an idle session keeps at most that much. Not safe for concurrent use
// (session.cwMu).
type clientWriter struct {
	w   io.Writer
	buf []byte
	err error
}

func newClientWriter(w io.Writer) *clientWriter { return &clientWriter{w: w} }

// Write gathers p; past maxPending it writes what is gathered. A large p with nothing gathered goes out
// directly, without a copy.
func (c *clientWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(c.buf) == 0 && len(p) >= maxPending {
		n, err := c.w.Write(p)
		c.err = err
		return n, err
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= maxPending {
		return len(p), c.Flush()
	}
	return len(p), nil
}

// Flush writes what is gathered, in one write.
func (c *clientWriter) Flush() error {
	if c.err != nil {
		return c.err
	}
	if len(c.buf) == 0 {
		return nil
	}
	_, c.err = c.w.Write(c.buf)
	if cap(c.buf) > keepBufferBytes && len(c.buf) <= keepBufferBytes {
		// A large buffer is kept while bursts are large (a streamed result: reallocating it for every
		// 64 KiB cost more than the copies) and dropped at the first small one, so an idle session keeps
		// at most keepBufferBytes.
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return c.err
}

// Buffered is the number of bytes gathered and not yet written.
func (c *clientWriter) Buffered() int { return len(c.buf) }
