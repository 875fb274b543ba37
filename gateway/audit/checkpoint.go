package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"time"

	"github.com/pangate/pangate/schemas"
)

// Checkpointer writes signed, chained gateway.checkpoint events on the run's chain (invariant 3).
type Checkpointer struct {
	p        *Producer
	run      *Session
	key      ed25519.PrivateKey
	instance string
	interval time.Duration

	mu      sync.Mutex // serialises checkpoints
	st      sync.Mutex // guards the fields below (also taken by a late-landing checkpoint's note)
	number  uint64
	prev    string
	from    time.Time
	pending map[string]schemas.SessionHead // heads not yet in an acknowledged checkpoint
	now     func() time.Time
}

// NewCheckpointer returns a Checkpointer writing on run (from Producer.Run) every interval.
func (p *Producer) NewCheckpointer(run *Session, key ed25519.PrivateKey, instance string, interval time.Duration) *Checkpointer {
	return &Checkpointer{p: p, run: run, key: key, instance: instance, interval: interval,
		prev: schemas.GenesisPrev, from: time.Now(), pending: map[string]schemas.SessionHead{}, now: time.Now}
}

// Run writes a checkpoint every interval until ctx ends. A checkpoint Kafka refuses is retried at the next
// tick with the heads accumulated meanwhile (its number is reused: numbering stays gapless).
func (c *Checkpointer) Run(ctx context.Context, onErr func(error)) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.Checkpoint(); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// Checkpoint writes one checkpoint now with the heads that advanced since the previous one.
//
// The checkpoint is built only once the run chain settled its previous event: a checkpoint that Kafka
// reported unavailable but wrote late moves the numbering on when it settles, so the next one gets the next
// number and links to it. (Building it first reused the late one's number with the old prev: "a checkpoint
// number appeared twice with a broken link" after a Kafka outage, issue 14.)
func (c *Checkpointer) Checkpoint() (schemas.Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var cp schemas.Checkpoint
	var to time.Time
	_, err := c.run.emitBuilt(schemas.TypeGatewayCheckpoint, func() (any, *Note, error) {
		c.st.Lock()
		for k, h := range c.p.TakeHeads() {
			if old, ok := c.pending[k]; ok && old.Seq > h.Seq {
				continue
			}
			c.pending[k] = h
		}
		heads := make([]schemas.SessionHead, 0, len(c.pending))
		for _, h := range c.pending {
			heads = append(heads, h)
		}
		to = c.now()
		cp = schemas.Checkpoint{
			Instance: c.instance, Run: c.run.ID(), Number: c.number, Prev: c.prev,
			From: schemas.FormatTime(c.from), To: schemas.FormatTime(to), IntervalMS: c.interval.Milliseconds(),
		}
		c.st.Unlock()
		if err := schemas.SealCheckpoint(&cp, heads, c.key); err != nil {
			return nil, nil, err
		}
		// If Kafka reports this checkpoint unavailable but writes it later, the numbering must still move on.
		late, lateTo := cp, to
		return cp, &Note{Landed: func(schemas.Event) { c.advance(late, lateTo, false) }}, nil
	})
	if err != nil {
		if cp.Signature == "" { // not built: the run chain's previous event is still unsettled
			return cp, fmt.Errorf("checkpoint: %w", err)
		}
		return cp, fmt.Errorf("checkpoint %d: %w", cp.Number, err)
	}
	c.advance(cp, to, true)
	return cp, nil
}

// advance moves the numbering past cp; clear drops the heads it listed (only when it is known written now,
// a late one leaves them for the next checkpoint, which lists them again).
func (c *Checkpointer) advance(cp schemas.Checkpoint, to time.Time, clear bool) {
	h, err := schemas.CheckpointHash(cp)
	if err != nil {
		return
	}
	c.st.Lock()
	defer c.st.Unlock()
	if cp.Number != c.number {
		return
	}
	c.number++
	c.prev = h
	c.from = to
	if clear {
		c.pending = map[string]schemas.SessionHead{}
	}
}

// LoadKey reads the checkpoint signing key, an Ed25519 private key in a PEM file (PKCS#8, as WriteKey
// writes it). The file format is schemas' (LoadPrivateKey), shared with the approver's decision key and the
// indexer's seeder, which sign the same way without importing the gateway.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	k, err := schemas.LoadPrivateKey(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w (create one with `gateway keygen`)", err)
	}
	return k, nil
}

// WriteKey generates an Ed25519 key, writes the private key (PKCS#8 PEM, mode 0600) to privPath and the
// public key (PKIX PEM) to pubPath, and returns the key id; it refuses to overwrite privPath
// (schemas.WriteKeyPair).
func WriteKey(privPath, pubPath string) (string, error) {
	id, err := schemas.WriteKeyPair(privPath, pubPath)
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	return id, nil
}
