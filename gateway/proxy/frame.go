package proxy

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Startup-phase request codes (the int32 after the length of a packet without a type byte).
const (
	codeProtocol3 = 196608   // 3.0
	codeSSL       = 80877103 // SSLRequest
	codeGSSENC    = 80877104 // GSSENCRequest
	codeCancel    = 80877102 // CancelRequest
)

// maxStartupBytes bounds a startup packet, as PostgreSQL does (MAX_STARTUP_PACKET_LENGTH).
const maxStartupBytes = 10000

// keepBufferBytes is the largest frame buffer a reader keeps between messages; larger messages get a buffer
// of their own so an idle connection does not pin a big allocation.
const keepBufferBytes = 32 << 10

var (
	// ErrMessageTooLarge is returned for a message longer than the configured maximum.
	ErrMessageTooLarge = errors.New("message exceeds the gateway's maximum message size")
	// ErrBadStartup is returned for a startup packet that is not well formed.
	ErrBadStartup = errors.New("malformed startup packet")
)

// readStartup reads one startup-phase packet: int32 length (self included), int32 code, payload.
func readStartup(r io.Reader) (code uint32, payload []byte, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 8 || n > maxStartupBytes {
		return 0, nil, fmt.Errorf("%w: length %d (allowed 8..%d)", ErrBadStartup, n, maxStartupBytes)
	}
	code = binary.BigEndian.Uint32(hdr[4:])
	payload = make([]byte, n-8)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return code, payload, nil
}

// parseStartupParams decodes the name\0value\0…\0 list of a StartupMessage.
func parseStartupParams(b []byte) (map[string]string, error) {
	params := map[string]string{}
	for len(b) > 0 {
		if b[0] == 0 {
			if len(b) != 1 {
				return nil, fmt.Errorf("%w: bytes after the terminator", ErrBadStartup)
			}
			return params, nil
		}
		i := indexZero(b)
		if i < 0 {
			return nil, fmt.Errorf("%w: parameter name not terminated", ErrBadStartup)
		}
		name := string(b[:i])
		b = b[i+1:]
		j := indexZero(b)
		if j < 0 {
			return nil, fmt.Errorf("%w: value of %q not terminated", ErrBadStartup, name)
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("%w: parameter %q given twice", ErrBadStartup, name)
		}
		params[name] = string(b[:j])
		b = b[j+1:]
		if len(params) > 64 {
			return nil, fmt.Errorf("%w: more than 64 parameters", ErrBadStartup)
		}
	}
	return nil, fmt.Errorf("%w: missing terminator", ErrBadStartup)
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// frameReader reads typed protocol messages (type byte, int32 length, body) as whole frames, so the relay
// can forward the bytes it read without re-encoding them.
type frameReader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

func newFrameReader(r io.Reader, size, max int) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, size), max: max}
}

// next returns the next frame (header included; the body is frame[5:]). The frame is valid until the
// next call.
func (f *frameReader) next() (typ byte, frame []byte, err error) {
	hdr, err := f.r.Peek(5)
	if err != nil {
		if len(hdr) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	typ = hdr[0]
	n := int(binary.BigEndian.Uint32(hdr[1:5]))
	if n < 4 {
		return 0, nil, fmt.Errorf("message %q has invalid length %d", typ, n)
	}
	if n-4 > f.max {
		return typ, nil, fmt.Errorf("%w: message %q of %d bytes, limit %d", ErrMessageTooLarge, typ, n-4, f.max)
	}
	total := n + 1
	var buf []byte
	if total <= keepBufferBytes {
		if cap(f.buf) < total {
			f.buf = make([]byte, total, max(total, 512))
		}
		buf = f.buf[:total]
	} else {
		buf = make([]byte, total)
	}
	if _, err := io.ReadFull(f.r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return typ, buf, nil
}

// buffered reports whether more bytes are already read: the relay flushes its writer only when not, so
// that a burst of messages leaves in one write.
func (f *frameReader) buffered() bool { return f.r.Buffered() > 0 }

// cstring splits a NUL-terminated string off b.
func cstring(b []byte) (string, []byte, bool) {
	i := indexZero(b)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}
