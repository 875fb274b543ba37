package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzStartupPacket feeds arbitrary bytes to the startup-phase parser: no panic, bounded allocation.
func FuzzStartupPacket(f *testing.F) {
	f.Add(startupPacket("user", "r@t", "database", "d"))
	f.Add([]byte{0, 0, 0, 8, 4, 210, 22, 47})
	f.Add([]byte{0, 0, 0, 16, 4, 210, 22, 46, 0, 0, 0, 1, 0, 0, 0, 2})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		code, payload, err := readStartup(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(payload) > maxStartupBytes {
			t.Fatalf("payload of %d bytes", len(payload))
		}
		if code == codeProtocol3 {
			_, _ = parseStartupParams(payload)
		}
	})
}

// FuzzFrames feeds arbitrary bytes to the message framer: frames are well formed and never exceed the cap.
func FuzzFrames(f *testing.F) {
	f.Add(queryFrame("SELECT 1"))
	f.Add([]byte{'X', 0, 0, 0, 4})
	f.Add([]byte{'Q', 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFrameReader(bytes.NewReader(data), 64, 1024)
		for {
			typ, frame, err := fr.next()
			if err != nil {
				return
			}
			if frame[0] != typ || len(frame) > 1024+5 {
				t.Fatalf("bad frame %q len %d", typ, len(frame))
			}
		}
	})
}

// FuzzClientMessages sends arbitrary bytes as the client's messages of a logged-in session (against a fake
// PostgreSQL and kfake): the session never panics and always ends once the client goes away.
func FuzzClientMessages(f *testing.F) {
	f.Add(queryFrame("SELECT pan FROM cards"))
	f.Add(append(queryFrame("INSERT INTO t VALUES (1); SELECT 2"), 'S', 0, 0, 0, 4))
	f.Add([]byte("P\x00\x00\x00\x10s\x00SELECT 1\x00\x00\x00B\x00\x00\x00\x0e\x00s\x00\x00\x00\x00\x00\x00\x00E\x00\x00\x00\x09\x00\x00\x00\x00\x00S\x00\x00\x00\x04"))
	f.Add([]byte("E\x00\x00\x00\x09nope\x00\x00\x00\x00\x00H\x00\x00\x00\x04"))
	f.Add([]byte("F\x00\x00\x00\x04S\x00\x00\x00\x04"))
	f.Add([]byte("d\x00\x00\x00\x05xc\x00\x00\x00\x04"))
	f.Add([]byte{'Q', 0, 0, 0, 5, 0})
	f.Add([]byte{'Q', 0x7f, 0, 0, 0})
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() { defer close(done); h.srv.handle(context.Background(), b) }()
		_ = a.SetDeadline(time.Now().Add(10 * time.Second))
		go func() { _, _ = io.Copy(io.Discard, a) }()
		w := append(startupPacket("user", "reader@t"), 'p', 0, 0, 0, 9, 'g', 'o', 'o', 'd', 0)
		_, _ = a.Write(w)
		_, _ = a.Write(data)
		_, _ = a.Write([]byte{'S', 0, 0, 0, 4, 'X', 0, 0, 0, 4})
		a.Close()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("session did not end after the client went away")
		}
	})
}
