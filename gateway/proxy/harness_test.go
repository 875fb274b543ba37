package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/auth"
	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

// The unit harness runs whole sessions over net.Pipe: a pgproto3 client on one side, the Server in the
// middle, a fake PostgreSQL backend (pgproto3.Backend) on the upstream pipe, and kfake as the audit log.

type fakeVerifier struct{}

func (fakeVerifier) VerifyToken(_ context.Context, token string) (auth.Claims, error) {
	if token != "good" {
		return auth.Claims{}, &auth.Error{Reason: auth.ReasonExpired, Message: "the token has expired", SQLState: auth.SQLStateInvalidPassword}
	}
	return auth.Claims{Identity: schemas.Identity{Issuer: "https://issuer.test", Subject: "job"}, Expiry: time.Now().Add(time.Hour)}, nil
}

type fakeCreds struct {
	issued, disabled, revoked atomic.Int64
	issueErr                  error // returned by Issue when set
	dropHook                  func(jit.Credential)
}

func (f *fakeCreds) Issue(_ context.Context, session string, grants []string, _ time.Time) (jit.Credential, error) {
	if f.issueErr != nil {
		return jit.Credential{}, f.issueErr
	}
	f.issued.Add(1)
	now := time.Now()
	return jit.Credential{Role: "pangate_jit_test", Password: "pw", ValidUntil: now.Add(time.Hour), IssuedAt: now, Granted: grants, Session: session}, nil
}

func (f *fakeCreds) Disable(context.Context, jit.Credential) error {
	f.disabled.Add(1)
	return nil
}

// Revoke drops the role; dropHook, if set, sees the order (a session's end must be recorded first).
func (f *fakeCreds) Revoke(ctx context.Context, c jit.Credential) error {
	if f.dropHook != nil {
		f.dropHook(c)
	}
	f.revoked.Add(1)
	return nil
}

// fakePG is a minimal PostgreSQL backend. It reports every message it receives on got.
type fakePG struct {
	got chan string
	// results, when set, answers the prepared statements whose query is a key (Describe and Execute);
	// others get the default one-column text "pan" result.
	results map[string]fakeResult
}

// fakeResult is a scripted answer for one prepared statement.
type fakeResult struct {
	desc *pgproto3.RowDescription
	rows []*pgproto3.DataRow
}

func (p *fakePG) serve(conn net.Conn) {
	defer conn.Close()
	be := pgproto3.NewBackend(conn, conn)
	if _, err := be.ReceiveStartupMessage(); err != nil {
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "15.0"})
	be.Send(&pgproto3.BackendKeyData{ProcessID: 4242, SecretKey: []byte{0, 0, 0, 7}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	rows := func() {
		be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("4111111111111111")}})
	}
	desc := &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("pan"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}}
	stmts, portals := map[string]string{}, map[string]string{}
	scripted := func(stmt string) (fakeResult, bool) {
		r, ok := p.results[stmts[stmt]]
		return r, ok
	}
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			p.report("Q " + m.String)
			if strings.HasPrefix(m.String, "COPY") {
				// Two text columns: an id and a Luhn-invalid card-like number only a column tag masks.
				be.Send(&pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0, 0}})
				be.Send(&pgproto3.CopyData{Data: []byte("7\t4111111111111112\n")})
				be.Send(&pgproto3.CopyDone{})
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("COPY 1")})
			} else if strings.HasPrefix(m.String, "SELECT") {
				be.Send(desc)
				rows()
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
			} else if strings.TrimSpace(m.String) != "" {
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("INSERT 0 1")})
			} else {
				be.Send(&pgproto3.EmptyQueryResponse{})
			}
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		case *pgproto3.Parse:
			p.report("P " + m.Query)
			stmts[m.Name] = m.Query
			be.Send(&pgproto3.ParseComplete{})
		case *pgproto3.Bind:
			portals[m.DestinationPortal] = m.PreparedStatement
			be.Send(&pgproto3.BindComplete{})
		case *pgproto3.Describe:
			stmt := m.Name
			if m.ObjectType == 'S' {
				be.Send(&pgproto3.ParameterDescription{})
			} else {
				stmt = portals[m.Name]
			}
			if r, ok := scripted(stmt); ok {
				be.Send(r.desc)
			} else {
				be.Send(desc)
			}
		case *pgproto3.Execute:
			p.report("E")
			if r, ok := scripted(portals[m.Portal]); ok {
				for _, row := range r.rows {
					be.Send(row)
				}
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte(fmt.Sprintf("SELECT %d", len(r.rows)))})
				break
			}
			rows()
			be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
		case *pgproto3.Close:
			be.Send(&pgproto3.CloseComplete{})
		case *pgproto3.Sync:
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		case *pgproto3.Terminate:
			return
		}
		if be.Flush() != nil {
			return
		}
	}
}

func (p *fakePG) report(s string) {
	select {
	case p.got <- s:
	default:
	}
}

type harness struct {
	srv     *Server
	kafka   *kfake.Cluster
	pg      *fakePG
	creds   *fakCredsAlias
	holdAck atomic.Bool
	// holdIn > 0 holds the acknowledgement of the holdIn-th produce request from now, and every later one
	// (holdAck is set then).
	holdIn  atomic.Int32
	noPG    atomic.Bool // the upstream connection is refused
	release chan struct{}
	relOnce sync.Once
}

type fakCredsAlias = fakeCreds

func newHarness(t testing.TB) *harness { return newHarnessPolicy(t, nil) }

func newHarnessPolicy(t testing.TB, pol Policy) *harness {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, schemas.TopicAudit))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	h := &harness{kafka: c, pg: &fakePG{got: make(chan string, 64)}, creds: &fakeCreds{}, release: make(chan struct{})}
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if h.holdIn.Load() > 0 && h.holdIn.Add(-1) == 0 {
			h.holdAck.Store(true)
		}
		if h.holdAck.Load() {
			c.SleepControl(func() { <-h.release })
		}
		return nil, nil, false
	})
	prod, err := audit.New(audit.Config{Brokers: c.ListenAddrs(), Topic: schemas.TopicAudit, AckTimeout: 5 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		prod.Close(ctx)
	})
	m, err := mask.New(mask.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Instance: "unit", AllowPlaintextLoopback: true, MaxMessageBytes: 64 << 10, StartupTimeout: 5 * time.Second,
		Targets: []Target{{Name: "t", Host: "127.0.0.1", Port: 5432, Database: "d", Credentials: h.creds,
			// The fake server's database has only plain tables and no user code.
			Facts: func(string) FunctionFacts { return plainDB{} },
			Dial: func(context.Context, string, string) (net.Conn, error) {
				if h.noPG.Load() {
					return nil, errors.New("connection refused (test)")
				}
				a, b := net.Pipe()
				go h.pg.serve(b)
				return a, nil
			}}}},
		Deps{Verifier: fakeVerifier{}, Classifier: classify.NewCache(64), Masker: m, Audit: prod, Policy: pol, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	return h
}

// client starts a session and returns the client end, logged in, with the greeting read.
func (h *harness) client(t testing.TB, token string) (*pgproto3.Frontend, net.Conn, chan struct{}) {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); h.srv.handle(context.Background(), b) }()
	t.Cleanup(func() { a.Close(); <-done })
	_ = a.SetDeadline(time.Now().Add(10 * time.Second))
	fe := pgproto3.NewFrontend(a, a)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "reader@t"}})
	must(t, fe.Flush())
	msg, err := fe.Receive()
	must(t, err)
	if _, ok := msg.(*pgproto3.AuthenticationCleartextPassword); !ok {
		t.Fatalf("want a cleartext password request, got %T", msg)
	}
	fe.Send(&pgproto3.PasswordMessage{Password: token})
	must(t, fe.Flush())
	return fe, a, done
}

// untilReady reads messages up to ReadyForQuery and returns their types and the DataRow values.
func untilReady(t testing.TB, fe *pgproto3.Frontend) (types string, values []string) {
	t.Helper()
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %q: %v", types, err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			for _, v := range m.Values {
				values = append(values, string(v))
			}
		case *pgproto3.ErrorResponse:
			values = append(values, m.Code+" "+m.Message)
		}
		types += string(typeByte(msg))
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return types, values
		}
	}
}

func typeByte(m pgproto3.BackendMessage) byte {
	b, err := m.Encode(nil)
	if err != nil || len(b) == 0 {
		return '?'
	}
	return b[0]
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// events reads the audit topic of the harness's kfake cluster.
func (h *harness) events(t testing.TB, want int) []schemas.Event {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.kafka.ListenAddrs()...), kgo.ConsumeTopics(schemas.TopicAudit), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	must(t, err)
	defer cl.Close()
	var evs []schemas.Event
	deadline := time.Now().Add(10 * time.Second)
	for len(evs) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			e, err := schemas.Parse(r.Value)
			must(t, err)
			evs = append(evs, e)
		})
		cancel()
	}
	return evs
}

func startupPacket(params ...string) []byte {
	b := []byte{0, 0, 0, 0, 0, 3, 0, 0}
	for _, p := range params {
		b = append(b, p...)
		b = append(b, 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

var errTimeout = errors.New("timeout")

// readWithin reports whether the client receives any byte within d (false: nothing arrived).
func readWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, _ := c.Read(b[:])
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return n > 0
}

var _ = bytes.NewReader
var _ = errTimeout

// plainDB is the function facts of a database with plain tables only and no user functions, operators,
// casts or views: every read the classifier finds side-effect-free is.
type plainDB struct{}

func (plainDB) OneArgFunction(string) (bool, error) { return false, nil }
func (plainDB) UserFunction(string) (bool, error)   { return false, nil }
func (plainDB) UserOperator(string) (bool, error)   { return false, nil }
func (plainDB) PlainRelation(string) (bool, error)  { return true, nil }
func (plainDB) UserImplicitCode() (bool, error)     { return false, nil }
