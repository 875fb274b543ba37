// Package panleak_test tries to get card numbers out through the real gateway (docs/invariants.md, invariant 2): a
// corpus of SQL tricks, COPY formats, errors, notices, notifications and binary results through pgx, psql,
// psycopg and JDBC, each checked against the client's bytes, the session's Kafka events and the gateway log.
package panleak_test

import (
	"bytes"
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/deploy/demo/seed"
	"github.com/pangate/pangate/gateway/auth/authtest"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

const audience = "pangate-panleak"

// gw is a gateway process started for one test (integration/stack's launcher).
type gw struct {
	*stack.Gateway
}

// startGateway runs the gateway with its own topics, an allow-everything policy (so that every attempt
// really runs: a held or denied statement proves nothing about masking), plaintext on loopback (so the test
// can record the raw bytes a client receives) and column tags for the fixture's encoded columns.
func startGateway(t *testing.T, f *fixture) *gw {
	t.Helper()
	return startGatewayPolicy(t, f, "")
}

// startGatewayPolicy is startGateway with policy as the policy file ("": allow everything); it must grant
// f.Role.
func startGatewayPolicy(t *testing.T, f *fixture, policy string) *gw {
	t.Helper()
	var cols []string
	for _, c := range taggedColumns {
		cols = append(cols, f.Table+"."+c)
	}
	return startGatewayOpts(t, f, gwOpts{policy: policy,
		mask: gatewayconfig.Mask{ColumnPatterns: []string{"pan", "card_number"}, Columns: cols}})
}

// gwOpts varies a gateway of startGatewayOpts.
type gwOpts struct {
	policy string             // policy file content; "": allow everything to f.Role
	mask   gatewayconfig.Mask // the config's mask section
	prefix string             // topic prefix ending in "."; "": a fresh one. Gateways may share one (one indexer reads it).
	name   string             // appended to the instance name, to tell gateways sharing a prefix apart
}

// startGatewayOpts is startGatewayPolicy with the mask configuration and topic prefix chosen by the caller.
func startGatewayOpts(t *testing.T, f *fixture, o gwOpts) *gw {
	t.Helper()
	policy := o.policy
	prefix := o.prefix
	if prefix == "" {
		prefix = stack.UniqueName(t, "pl") + "."
	}
	if policy == "" {
		policy = fmt.Sprintf(`version: 1
grants:
  - name: panleak-test
    when: 'true'
    roles: [%s]
rules:
  - name: allow-everything
    when: 'true'
    action: allow
default:
  action: deny
  reason: "unreachable: the test allows everything"
`, f.Role)
	}
	return &gw{stack.StartGateway(t, stack.GatewayOptions{
		Instance:          "pl-" + strings.TrimSuffix(prefix, ".") + o.name,
		Prefix:            prefix,
		Audience:          audience,
		PlaintextLoopback: true,
		AckTimeout:        5 * time.Second,
		Policy:            policy,
		Configure:         func(c *gatewayconfig.Config) { c.Mask = o.mask },
		// debug level (the default): the most the gateway ever logs is what must stay PAN-free. A log
		// shown on failure is redacted all the same.
		ShowLog: func(l string) string { return redact(l, f.PANs) },
	})}
}

func (g *gw) token(sub string) string {
	return g.Issuer.Mint(authtest.MintRequest{Subject: sub, Audience: []string{audience}, TTLSeconds: 600})
}

// dsn is a libpq connection string through the gateway, without TLS (loopback) so raw bytes are readable.
func (g *gw) dsn(role, sub string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=disable password=%s", g.Port, role, g.token(sub))
}

// records reads every record of the audit topic until n client sessions have ended; it returns the raw
// values (scanned byte for byte, not only the fields we know of) and the parsed events.
func (g *gw) records(t *testing.T, n int) ([][]byte, []schemas.Event) {
	t.Helper()
	cl := stack.Kafka(t, kgo.ConsumeTopics(g.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var raws [][]byte
	var evs []schemas.Event
	ended := 0
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			raw := append(append([]byte(nil), r.Key...), r.Value...)
			for _, h := range r.Headers {
				raw = append(append(raw, h.Key...), h.Value...)
			}
			raws = append(raws, raw)
			e, err := schemas.Parse(r.Value)
			if err != nil {
				t.Errorf("record is not an event: %v", err)
				return
			}
			if e.Type == schemas.TypeSessionEnded {
				ended++
			}
			evs = append(evs, e)
		})
		if ended >= n {
			return raws, evs
		}
	}
	t.Fatalf("%d of %d sessions ended in the audit topic within 30s (%d records)", ended, n, len(raws))
	return nil, nil
}

// taggedColumns hold encodings of the PAN that content scanning cannot recognise (docs/masking.md, "What
// content scanning cannot catch"); the gateway config tags them as table.column, so only the tag path
// (RowDescription table OID + attnum resolved through the catalog) can protect them.
var taggedColumns = []string{"pan_rev", "pan_b64", "pan_head", "pan_tail"}

// fixture is a seeded cards table and a NOLOGIN role that may read it and insert into it, unique per test.
type fixture struct {
	Table string
	Role  string
	PANs  []string // every seeded PAN, in id order (id = index + 1)
	admin *pgx.Conn
}

// extraBrands widen the seed's brand list to the longest and shortest lengths docs/pci.md names.
var extraBrands = []seed.Brand{{Name: "visa", Prefix: "4", Length: 19}, {Name: "maestro", Prefix: "50", Length: 12}, {Name: "discover", Prefix: "65", Length: 17}}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	admin := stack.Postgres(t)
	f := &fixture{Table: stack.UniqueName(t, "cards"), Role: stack.UniqueName(t, "plr"), admin: admin}
	r := mrand.New(mrand.NewPCG(7, 11))
	brands := append(append([]seed.Brand(nil), seed.Brands...), extraBrands...)
	var values []string
	for i, b := range brands {
		p := seed.PAN(r, b)
		f.PANs = append(f.PANs, p)
		values = append(values, fmt.Sprintf("(%d, '%s', '%s')", i+1, b.Name, p))
	}
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, brand text NOT NULL, pan text NOT NULL UNIQUE, pan_rev text, pan_b64 text, pan_head text, pan_tail text)`, f.Table),
		fmt.Sprintf(`INSERT INTO %s (id, brand, pan) VALUES %s`, f.Table, strings.Join(values, ", ")),
		fmt.Sprintf(`UPDATE %s SET pan_rev = reverse(pan), pan_b64 = encode(convert_to(pan, 'UTF8'), 'base64'), pan_head = substr(pan, 1, 8), pan_tail = substr(pan, 9)`, f.Table),
		fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, f.Role),
		fmt.Sprintf(`GRANT SELECT, INSERT ON %s TO %s`, f.Table, f.Role),
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("fixture: %v", err) // the statement holds PANs: not printed
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s`, f.Table))
		_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP OWNED BY %s`, f.Role))
		_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, f.Role))
	})
	return f
}

// recorder keeps every byte a client connection read from the gateway.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := append([]byte(nil), r.buf.Bytes()...)
	r.buf.Reset()
	return b
}

type recConn struct {
	net.Conn
	r *recorder
}

func (c recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.r.mu.Lock()
	c.r.buf.Write(p[:n])
	c.r.mu.Unlock()
	return n, err
}
