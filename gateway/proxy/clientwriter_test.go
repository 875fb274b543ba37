package proxy

import (
	"bytes"
	"errors"
	"testing"
)

// countingWriter records each Write it gets (one system call on a socket).
type countingWriter struct {
	writes [][]byte
	err    error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestClientWriterCoalesces: messages released together leave in one write, in order; only past
// maxPending does it write before a flush; a large burst does not stay allocated; an error sticks.
func TestClientWriterCoalesces(t *testing.T) {
	frame := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	cases := []struct {
		name       string
		writes     [][]byte
		flush      bool
		wantWrites []int // sizes of the underlying writes
	}{
		{"small result: T, D×50, C, Z in one write", append(append([][]byte{frame(40, 'T')}, repeat(frame(30, 'D'), 50)...), frame(13, 'C'), frame(6, 'Z')), true, []int{40 + 50*30 + 13 + 6}},
		{"nothing flushed yet", [][]byte{frame(100, 'D')}, false, nil},
		{"one 16 KiB read of a stream: one write (bufio of 8 KiB made two)", repeat(frame(100, 'D'), 160), true, []int{16000}},
		{"past maxPending: written without a flush", repeat(frame(1000, 'D'), 70), false, []int{66000}},
		{"large gated result with nothing gathered: written directly", [][]byte{frame(maxPending+10, 'D')}, false, []int{maxPending + 10}},
		{"large gated result after a small one: one write", [][]byte{frame(10, 'N'), frame(maxPending, 'D')}, false, []int{maxPending + 10}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out countingWriter
			cw := newClientWriter(&out)
			var want []byte
			for _, w := range tc.writes {
				want = append(want, w...)
				if n, err := cw.Write(w); err != nil || n != len(w) {
					t.Fatalf("Write: %d, %v", n, err)
				}
			}
			if tc.flush {
				if err := cw.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			var sizes []int
			var got []byte
			for _, w := range out.writes {
				sizes = append(sizes, len(w))
				got = append(got, w...)
			}
			if !equalInts(sizes, tc.wantWrites) {
				t.Fatalf("underlying writes %v, want %v", sizes, tc.wantWrites)
			}
			if len(got)+cw.Buffered() != len(want) || !bytes.Equal(got, want[:len(got)]) {
				t.Fatalf("bytes written out of order or lost: %d written + %d buffered of %d", len(got), cw.Buffered(), len(want))
			}
		})
	}
	t.Run("a large buffer is kept while bursts are large, dropped at the first small one", func(t *testing.T) {
		cw := newClientWriter(&countingWriter{})
		burst := func(n int) {
			for _, w := range repeat(frame(1000, 'D'), n) {
				_, _ = cw.Write(w)
			}
			_ = cw.Flush()
		}
		burst(40)
		big := cap(cw.buf)
		burst(40)
		if big <= keepBufferBytes || cap(cw.buf) != big {
			t.Fatalf("buffer capacity %d after a second 40 KB burst, want the first burst's %d (> %d) kept", cap(cw.buf), big, keepBufferBytes)
		}
		burst(2)
		if cap(cw.buf) > keepBufferBytes {
			t.Fatalf("buffer of %d bytes kept after a small burst, want at most %d", cap(cw.buf), keepBufferBytes)
		}
	})
	t.Run("errors stick", func(t *testing.T) {
		boom := errors.New("client gone")
		cw := newClientWriter(&countingWriter{err: boom})
		_, _ = cw.Write([]byte("x"))
		if err := cw.Flush(); !errors.Is(err, boom) {
			t.Fatalf("Flush: %v", err)
		}
		if _, err := cw.Write([]byte("y")); !errors.Is(err, boom) {
			t.Fatalf("Write after an error: %v", err)
		}
	})
}

func repeat(b []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
