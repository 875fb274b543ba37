package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"
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
		sort.Slice(heads, func(i, j int) bool { return heads[i].Session < heads[j].Session })
		cp.Sessions = heads
		if err := schemas.SignCheckpoint(&cp, c.key); err != nil {
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

// LoadKey reads an Ed25519 private key from a PEM file (PKCS#8, as written by WriteKey).
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("checkpoint key %s: no PEM block; create one with `gateway keygen`", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("checkpoint key %s: %w", path, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("checkpoint key %s: %T is not an Ed25519 key", path, k)
	}
	return ek, nil
}

// WriteKey generates an Ed25519 key, writes the private key (PKCS#8 PEM, mode 0600) to privPath and the
// public key (PKIX PEM) to pubPath, and returns the key id.
func WriteKey(privPath, pubPath string) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	pb, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(privPath); err == nil {
		return "", errors.New("keygen: " + privPath + " exists; refusing to overwrite a signing key")
	}
	if err := os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		return "", err
	}
	if pubPath != "" {
		if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pb}), 0o644); err != nil {
			return "", err
		}
	}
	return schemas.KeyID(pub), nil
}
