package audit

// Sessions that ended without session.ended (their gateway was killed): read back from the audit topic and
// recorded by the reaper as session.reaped on the run chain of the gateway that found them (issue 14.4,
// docs/evidence.md "Sessions ended by a crash").

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/schemas"
)

// Tail is what the audit topic holds of one session, as ReadSession found it.
type Tail struct {
	Found bool          // at least one event of the session
	Last  schemas.Event // its event with the highest seq
	Ended bool          // a session.ended is among them
	// Started is its session.started data (Reads and Run say what a crash of its gateway may have lost).
	Started *schemas.SessionStarted
	Events  int
}

// ErrTooRecent is returned by RecordReaped for a session whose last event is younger than ReapQuiet: its
// gateway may still be ending it (a backend that just exited is followed by credential.revoked and
// session.ended within the ack timeout), so the reaper keeps the role and looks again at its next round.
var ErrTooRecent error = deferred("audit: the session wrote an event moments ago; not recorded as reaped yet")

// deferred is an error that asks the reaper to keep the role and look again at its next round without
// reporting a failure (gateway/jit checks for the Deferred method).
type deferred string

func (d deferred) Error() string { return string(d) }

// Deferred says the caller should try again later; nothing failed.
func (deferred) Deferred() bool { return true }

// ReapQuiet is how long a session must have been silent before RecordReaped records it as ended by a crash.
var ReapQuiet = 10 * time.Second

// ReadSession reads the events of session back from the audit topic: the partition its key hashes to (the
// producer's partitioner hashes keys with Kafka's murmur2, as StickyKeyPartitioner does), from the first
// offset at or after since (the session's start, less a margin) to the partition's end when the read began.
// Only records keyed by the session count.
func (p *Producer) ReadSession(ctx context.Context, session string, since time.Time) (Tail, error) {
	var t Tail
	adm := kadm.NewClient(p.aux)
	td, err := adm.ListTopics(ctx, p.cfg.Topic)
	if err == nil {
		err = td.Error()
	}
	if err != nil {
		return t, fmt.Errorf("audit: read back session %s: metadata of %s: %w", session, p.cfg.Topic, err)
	}
	n := len(td[p.cfg.Topic].Partitions)
	if n == 0 {
		return t, fmt.Errorf("audit: read back session %s: topic %s has no partitions", session, p.cfg.Topic)
	}
	part := int32(kgo.StickyKeyPartitioner(nil).ForTopic(p.cfg.Topic).Partition(&kgo.Record{Key: []byte(session)}, n))
	ends, err := adm.ListEndOffsets(ctx, p.cfg.Topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return t, fmt.Errorf("audit: read back session %s: end offsets of %s: %w", session, p.cfg.Topic, err)
	}
	end, ok := ends.Lookup(p.cfg.Topic, part)
	if !ok {
		return t, fmt.Errorf("audit: read back session %s: no end offset for %s/%d", session, p.cfg.Topic, part)
	}
	start := int64(0)
	if !since.IsZero() {
		starts, err := adm.ListOffsetsAfterMilli(ctx, since.UnixMilli(), p.cfg.Topic)
		if err == nil {
			err = starts.Error()
		}
		if err != nil {
			return t, fmt.Errorf("audit: read back session %s: offsets after %s: %w", session, since.UTC().Format(time.RFC3339), err)
		}
		if o, ok := starts.Lookup(p.cfg.Topic, part); ok && o.Offset >= 0 {
			start = o.Offset
		}
	}
	if start >= end.Offset {
		return t, nil
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(p.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{p.cfg.Topic: {part: kgo.NewOffset().At(start)}})}, p.extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return t, fmt.Errorf("audit: read back session %s: Kafka client: %w", session, err)
	}
	defer cl.Close()
	for next := start; next < end.Offset; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return t, fmt.Errorf("audit: read back session %s: %s/%d read to offset %d of %d: %w", session, p.cfg.Topic, part, next, end.Offset, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return t, fmt.Errorf("audit: read back session %s: fetch %s/%d: %w", session, p.cfg.Topic, part, ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if string(r.Key) != session {
				return
			}
			e, err := schemas.Parse(r.Value)
			if err != nil || e.Session != session {
				return
			}
			t.note(e)
		})
	}
	return t, nil
}

func (t *Tail) note(e schemas.Event) {
	t.Events++
	if !t.Found || e.Seq >= t.Last.Seq {
		t.Last = e
	}
	t.Found = true
	switch e.Type {
	case schemas.TypeSessionEnded:
		t.Ended = true
	case schemas.TypeSessionStarted:
		var ss schemas.SessionStarted
		if e.Decode(&ss) == nil {
			t.Started = &ss
		}
	}
}

// Orphan is a session whose just-in-time role the reaper is about to drop (from the role's marker comment).
type Orphan struct {
	Session  string
	Role     string
	Target   string
	Instance string    // the gateway instance that created the role
	Issued   time.Time // when the role was created: the session started then
}

// readBackMargin is how far before the role's creation the read-back starts: the session's first events
// (auth.succeeded, credential.issued) are written around the role's creation, and broker and gateway clocks
// differ a little.
const readBackMargin = 5 * time.Minute

// RecordReaped is the reaper's hook for one orphaned session: it reads the session back from the audit topic
// and, when it has events but no session.ended, writes session.reaped on run (this gateway's run chain)
// naming the session's highest acknowledged seq. It returns whether it wrote one. An error (Kafka
// unavailable) means nothing was recorded: the caller keeps the role so that the next reap tries again.
func (p *Producer) RecordReaped(ctx context.Context, run *Session, o Orphan) (bool, error) {
	if _, ok := p.ending.Load(o.Session); ok {
		// This gateway is still writing the session's end (Kafka did not take it yet; its role was kept
		// for the reaper in case the gateway dies first): not orphaned, look again next round.
		return false, fmt.Errorf("%w: session %s is still ending on this gateway", ErrTooRecent, o.Session)
	}
	since := time.Time{}
	if !o.Issued.IsZero() {
		since = o.Issued.Add(-readBackMargin)
	}
	t, err := p.ReadSession(ctx, o.Session, since)
	if err != nil {
		return false, err
	}
	if !t.Found {
		// The role was created but the gateway died before session.started (or wrote nothing at all):
		// no statement of it can have run, there is no session to close.
		return false, nil
	}
	if t.Ended {
		return false, nil
	}
	if lt, err := schemas.ParseTime(t.Last.Time); err == nil && time.Since(lt) < ReapQuiet {
		// Its gateway may be ending it right now (its backend just went away): decide next time.
		return false, fmt.Errorf("%w: session %s wrote seq %d at %s", ErrTooRecent, o.Session, t.Last.Seq, t.Last.Time)
	}
	r := schemas.SessionReaped{Session: o.Session, LastSeq: t.Last.Seq, LastHash: t.Last.Hash, LastType: t.Last.Type,
		LastTime: t.Last.Time, Instance: o.Instance, Role: o.Role, Target: o.Target, Reads: schemas.ReadsUnknown, Unrecorded: 1}
	if r.Instance == "" {
		r.Instance = t.Last.Gateway.Instance
	}
	if t.Started != nil {
		r.Run = t.Started.Run
		if t.Started.Reads != "" {
			r.Reads = t.Started.Reads
		}
	}
	if r.Reads == schemas.ReadsStrict {
		r.Unrecorded = 0
	}
	if _, err := run.Emit(schemas.TypeSessionReaped, r); err != nil {
		return false, err
	}
	return true, nil
}
