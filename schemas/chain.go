package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// HashEvent returns the hex SHA-256 of e's canonical encoding without its "hash" member.
func HashEvent(e Event) (string, error) {
	buf := encodePool.Get().(*[]byte)
	defer putEncodeBuf(buf)
	b, _, err := appendEvent((*buf)[:0], e, false)
	if err != nil {
		return "", err
	}
	*buf = b
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// encodePool holds the buffers events are encoded into for hashing.
var encodePool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func putEncodeBuf(b *[]byte) {
	if cap(*b) <= 1<<16 {
		encodePool.Put(b)
	}
}

const hashMemberKey = `,"hash":"`

// Chain stamps the events of one session: id, time, seq (from 0, no gaps), prev and hash.
// A Chain is not safe for concurrent use: a session's events are produced in order by one goroutine.
type Chain struct {
	session string
	source  Source
	seq     uint64
	prev    string
	// Now is the clock; tests replace it for reproducible vectors.
	Now func() time.Time
	// NewID mints event ids; tests replace it for reproducible vectors.
	NewID func() string
}

// NewChain starts the chain of a session at seq 0.
func NewChain(session string, source Source) *Chain {
	return &Chain{session: session, source: source, prev: GenesisPrev, Now: time.Now, NewID: NewID}
}

// ResumeChain continues a chain whose last event had seq last and hash head.
func ResumeChain(session string, source Source, last uint64, head string) *Chain {
	c := NewChain(session, source)
	c.seq, c.prev = last+1, head
	return c
}

// Session returns the chain's session id.
func (c *Chain) Session() string { return c.session }

// Head returns the seq the next event will get and the hash it will point to.
func (c *Chain) Head() (nextSeq uint64, prev string) { return c.seq, c.prev }

// Next builds the next event of the session with data (a data struct, or json.RawMessage) and advances the
// chain. If the caller then fails to deliver the event, the session must end: a later event would point to
// a hash the log never saw, which verification reports as a gap.
func (c *Chain) Next(typ string, data any) (Event, error) {
	e, err := c.Peek(typ, data)
	if err != nil {
		return Event{}, err
	}
	c.Commit(e)
	return e, nil
}

// Peek builds the next event without advancing the chain; Commit advances it. This lets a producer keep the
// chain unchanged when an event is refused before it was ever sent.
func (c *Chain) Peek(typ string, data any) (Event, error) {
	e, _, err := c.peek(typ, data, false)
	return e, err
}

// PeekRecord is Peek that also returns the Kafka record value (what Marshal returns for the event), built
// from the same canonical encoding the hash covers: the event is encoded once, into a reused buffer, and
// the value is that encoding with the "hash" member spliced in.
func (c *Chain) PeekRecord(typ string, data any) (Event, []byte, error) {
	return c.peek(typ, data, true)
}

func (c *Chain) peek(typ string, data any, record bool) (Event, []byte, error) {
	if _, ok := dataTypes[typ]; !ok {
		return Event{}, nil, fmt.Errorf("%w %q", ErrUnknownType, typ)
	}
	raw, ok := data.(json.RawMessage)
	if !ok {
		b, err := json.Marshal(data)
		if err != nil {
			return Event{}, nil, fmt.Errorf("schemas: encode %s data: %w", typ, err)
		}
		raw = b
	}
	e := Event{
		V: Version, ID: c.NewID(), Type: typ, Time: FormatTime(c.Now()),
		Session: c.session, Seq: c.seq, Prev: c.prev, Gateway: c.source, Data: raw,
	}
	buf := encodePool.Get().(*[]byte)
	defer putEncodeBuf(buf)
	b, at, err := appendEvent((*buf)[:0], e, false)
	if err != nil {
		return Event{}, nil, err
	}
	*buf = b
	sum := sha256.Sum256(b)
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], sum[:])
	e.Hash = string(hx[:])
	if !record {
		return e, nil, nil
	}
	v := make([]byte, 0, len(b)+len(hashMemberKey)+len(hx)+1)
	v = append(v, b[:at]...)
	v = append(v, hashMemberKey...)
	v = append(v, hx[:]...)
	v = append(v, '"')
	v = append(v, b[at:]...)
	return e, v, nil
}

// Commit advances the chain past e, which Peek returned.
func (c *Chain) Commit(e Event) {
	c.seq, c.prev = e.Seq+1, e.Hash
}

// NewUnchained builds a standalone event (seq 0, prev GenesisPrev) under the given stream id, as written to
// the approvals topic; it is checked with VerifyEvent alone.
func NewUnchained(stream string, source Source, typ string, data any) (Event, error) {
	return NewChain(stream, source).Peek(typ, data)
}

// ErrChain is matched (errors.Is) by every *ChainError.
var ErrChain = errors.New("schemas: chain verification failed")

// ChainError says where a session's chain breaks and why.
type ChainError struct {
	Session  string
	Position int    // index in the list of events as read from the log
	Seq      uint64 // seq the event claims
	EventID  string
	Reason   string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("session %s: event at position %d (seq %d, id %s): %s", e.Session, e.Position, e.Seq, e.EventID, e.Reason)
}

// Is makes errors.Is(err, ErrChain) true.
func (e *ChainError) Is(target error) bool { return target == ErrChain }

// VerifyEvent checks that e's hash matches its contents.
func VerifyEvent(e Event) error {
	h, err := HashEvent(e)
	if err != nil {
		return &ChainError{Session: e.Session, Seq: e.Seq, EventID: e.ID, Reason: err.Error()}
	}
	if h != e.Hash {
		return &ChainError{Session: e.Session, Seq: e.Seq, EventID: e.ID,
			Reason: fmt.Sprintf("hash %s does not match contents (recomputed %s): event edited", short(e.Hash), short(h))}
	}
	return nil
}

// VerifySession checks a whole session read from the log in order: every hash matches its event, seq runs
// 0,1,2… without gaps, and each prev is the previous hash. It returns the first break as *ChainError.
func VerifySession(events []Event) error {
	if errs := CheckSession(events); len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// CheckSession is VerifySession reporting every break instead of the first. An edited event, a dropped
// event, a reordered pair, an inserted event and a rewritten seq each produce at least one error naming
// the session and the position.
func CheckSession(events []Event) []*ChainError {
	var errs []*ChainError
	if len(events) == 0 {
		return nil
	}
	session := events[0].Session
	prevHash := GenesisPrev
	for i, e := range events {
		fail := func(format string, args ...any) {
			errs = append(errs, &ChainError{Session: session, Position: i, Seq: e.Seq, EventID: e.ID, Reason: fmt.Sprintf(format, args...)})
		}
		if e.Session != session {
			fail("belongs to session %s", e.Session)
		}
		if err := VerifyEvent(e); err != nil {
			fail("%s", err.(*ChainError).Reason)
		}
		switch {
		case e.Seq == uint64(i):
		case e.Seq > uint64(i):
			fail("seq %d where %d was expected: events missing before it", e.Seq, i)
		default:
			fail("seq %d where %d was expected: event out of order or duplicated", e.Seq, i)
		}
		if e.Prev != prevHash {
			fail("prev %s does not link to the previous event's hash %s", short(e.Prev), short(prevHash))
		}
		prevHash = e.Hash
	}
	return errs
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
