package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/gateway/auth/authtest"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

const audience = "pangate-test"

// gw is a gateway process started for one test (integration/stack's launcher).
type gw struct {
	*stack.Gateway
}

type gwOpts struct {
	plaintextLoopback bool
	ackTimeout        time.Duration
	resultBuffer      int
	upstreamSSLMode   string   // the target's sslmode; empty: disable
	upstreamCAFile    string   // the target's ca_file, for sslmode verify-full
	databases         []string // more databases the target may open besides its own
	configure         func(*gatewayconfig.Config)
}

// startGateway runs the gateway binary with a fresh config: its own topics, TLS certificate, checkpoint
// key, and the dev issuer as a separate process.
func startGateway(t *testing.T, o gwOpts) *gw {
	t.Helper()
	return &gw{stack.StartGateway(t, stack.GatewayOptions{
		Audience:          audience,
		PlaintextLoopback: o.plaintextLoopback,
		AckTimeout:        o.ackTimeout,
		ResultBuffer:      o.resultBuffer,
		UpstreamSSLMode:   o.upstreamSSLMode,
		UpstreamCAFile:    o.upstreamCAFile,
		Databases:         o.databases,
		Configure:         o.configure,
	})}
}

// token mints a valid token for subject.
func (g *gw) token(sub string) string {
	return g.Issuer.Mint(authtest.MintRequest{Subject: sub, Audience: []string{audience}, TTLSeconds: 600})
}

// dsn is a libpq/pgx connection string through the gateway.
func (g *gw) dsn(role, password, sslmode string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%s user=%s@%s dbname=postgres sslmode=%s password=%s", g.Port, role, g.Target, sslmode, password)
}

func (g *gw) connect(t *testing.T, role, sub string, extra ...string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dsn := g.dsn(role, g.token(sub), "require") + " " + strings.Join(extra, " ")
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect through the gateway as %s: %v", role, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// events reads every event of the test's audit topic until done returns true for the list so far.
func (g *gw) events(t *testing.T, done func([]schemas.Event) bool) []schemas.Event {
	t.Helper()
	cl := stack.Kafka(t, kgo.ConsumeTopics(g.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	var evs []schemas.Event
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if err := schemas.Validate(r.Value); err != nil {
				t.Errorf("event fails its JSON Schema: %v\n%s", err, r.Value)
			}
			e, err := schemas.Parse(r.Value)
			if err != nil {
				t.Errorf("record is not an event: %v", err)
				return
			}
			if string(r.Key) != e.Session {
				t.Errorf("record key %q is not the session id %q", r.Key, e.Session)
			}
			evs = append(evs, e)
		})
		if done(evs) {
			return evs
		}
	}
	t.Fatalf("audit events did not arrive within 30s; have %d: %s", len(evs), typesOf(evs))
	return nil
}

// sessions groups events by session, in log order (one partition per session keeps their order).
// sessions groups events by session, keeping one record per event id as readers do: a record whose
// acknowledgement was lost is sent again as it was (docs/invariants.md, invariant 6; seen when a gateway's
// first produce met UNKNOWN_TOPIC_OR_PARTITION on a topic just created). A second record with the same id
// but other contents is kept, so the chain check reports it.
func sessions(evs []schemas.Event) map[string][]schemas.Event {
	m := map[string][]schemas.Event{}
	seen := map[string]string{} // event id → hash
	for _, e := range evs {
		if h, ok := seen[e.ID]; ok && h == e.Hash {
			continue
		}
		seen[e.ID] = e.Hash
		m[e.Session] = append(m[e.Session], e)
	}
	return m
}

func typesOf(evs []schemas.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Type)
	}
	return strings.Join(s, ",")
}

// clientSessions returns the sessions that have a session.started event.
func clientSessions(evs []schemas.Event) [][]schemas.Event {
	var out [][]schemas.Event
	for _, s := range sessions(evs) {
		for _, e := range s {
			if e.Type == schemas.TypeSessionStarted {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// endedSessions is a done predicate: n client sessions have ended.
func endedSessions(n int) func([]schemas.Event) bool {
	return func(evs []schemas.Event) bool {
		c := 0
		for _, e := range evs {
			if e.Type == schemas.TypeSessionEnded {
				c++
			}
		}
		return c >= n
	}
}

// fixture creates a table and a NOLOGIN role allowed to use it, unique to the test, on the stack's
// PostgreSQL (directly, as superuser).
type fixture struct {
	Table string
	Role  string
	admin *pgx.Conn
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	admin := stack.Postgres(t)
	f := &fixture{Table: stack.UniqueName(t, "gwt"), Role: stack.UniqueName(t, "gwr"), admin: admin}
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, name text, pan text, amount numeric)`, f.Table),
		fmt.Sprintf(`INSERT INTO %s SELECT g, 'name ' || g, CASE WHEN g %% 2 = 0 THEN '4111111111111111' ELSE 'none' END, g * 1.5 FROM generate_series(1, 20) g`, f.Table),
		fmt.Sprintf(`CREATE ROLE %s NOLOGIN`, f.Role),
		fmt.Sprintf(`GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s`, f.Table, f.Role),
		fmt.Sprintf(`GRANT USAGE, CREATE ON SCHEMA public TO %s`, f.Role),
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("fixture %q: %v", q, err)
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
