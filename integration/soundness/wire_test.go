package soundness_test

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// wire is a raw pgwire client over TLS: it sends exactly the frames a test writes, so the extended
// protocol's corner cases (failed Parse, Close under a live portal, batches without Sync) reach the gateway
// as an attacker would send them.
type wire struct {
	t    *testing.T
	conn net.Conn
	fe   *pgproto3.Frontend
	Tag  string // unique literal put in the session's first statement, to find its events
	PID  int    // upstream backend pid, from SELECT pg_backend_pid() through the gateway
	dead bool
}

// msg is a copied backend message (pgproto3 reuses its structures).
type msg struct {
	Type    string // "ParseComplete", "Error", "DataRow", "CommandComplete", …
	Code    string // SQLSTATE of an Error
	Message string // Error message, CommandComplete tag, ParameterStatus name=value
	Fatal   bool
	Values  []string // DataRow
}

func (m msg) String() string {
	switch m.Type {
	case "Error":
		return fmt.Sprintf("Error(%s %s)", m.Code, m.Message)
	case "CommandComplete", "ParameterStatus":
		return m.Type + "(" + m.Message + ")"
	case "DataRow":
		return fmt.Sprintf("DataRow%v", m.Values)
	}
	return m.Type
}

func copyMsg(b pgproto3.BackendMessage) msg {
	switch v := b.(type) {
	case *pgproto3.ErrorResponse:
		return msg{Type: "Error", Code: v.Code, Message: v.Message, Fatal: v.Severity == "FATAL" || v.Severity == "PANIC"}
	case *pgproto3.CommandComplete:
		return msg{Type: "CommandComplete", Message: string(v.CommandTag)}
	case *pgproto3.ParameterStatus:
		return msg{Type: "ParameterStatus", Message: v.Name + "=" + v.Value}
	case *pgproto3.DataRow:
		m := msg{Type: "DataRow"}
		for _, c := range v.Values {
			m.Values = append(m.Values, string(c))
		}
		return m
	case *pgproto3.NoticeResponse:
		return msg{Type: "Notice", Code: v.Code, Message: v.Message}
	}
	name := fmt.Sprintf("%T", b)
	return msg{Type: name[strings.LastIndexByte(name, '.')+1:]}
}

// dialWire connects through the gateway as f.Role with the given extra startup parameters; it returns the
// startup's error response (FATAL) instead of failing when the gateway refuses the startup.
func dialWire(t *testing.T, g *gw, role string, params map[string]string) (*wire, *msg) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+g.Port, 10*time.Second)
	if err != nil {
		t.Fatalf("dial gateway: %v", err)
	}
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	var req [8]byte
	binary.BigEndian.PutUint32(req[0:4], 8)
	binary.BigEndian.PutUint32(req[4:8], 80877103) // SSLRequest
	if _, err := conn.Write(req[:]); err != nil {
		t.Fatalf("SSLRequest: %v", err)
	}
	var ans [1]byte
	if _, err := io.ReadFull(conn, ans[:]); err != nil || ans[0] != 'S' {
		t.Fatalf("SSLRequest answered %q, %v; the gateway must offer TLS", ans[:], err)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) // the test's own self-signed gateway
	w := &wire{t: t, conn: tc, fe: pgproto3.NewFrontend(tc, tc)}
	t.Cleanup(w.Close)
	p := map[string]string{"user": role + "@pg", "database": database}
	for k, v := range params {
		p[k] = v
	}
	w.fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: p})
	if err := w.fe.Flush(); err != nil {
		t.Fatalf("startup: %v", err)
	}
	for {
		b, err := w.fe.Receive()
		if err != nil {
			w.dead = true
			return w, &msg{Type: "Error", Code: "08006", Message: "connection closed during startup: " + err.Error(), Fatal: true}
		}
		switch v := b.(type) {
		case *pgproto3.AuthenticationCleartextPassword:
			w.fe.Send(&pgproto3.PasswordMessage{Password: g.token("h2-wire")})
			if err := w.fe.Flush(); err != nil {
				t.Fatalf("password: %v", err)
			}
		case *pgproto3.ErrorResponse:
			m := copyMsg(v)
			w.Close()
			w.dead = true
			return w, &m
		case *pgproto3.ReadyForQuery:
			w.Tag = newTag()
			rs := w.Query(fmt.Sprintf("SELECT pg_backend_pid(), '%s'", w.Tag))
			for _, m := range rs {
				if m.Type == "DataRow" {
					w.PID, _ = strconv.Atoi(m.Values[0])
					return w, nil
				}
			}
			t.Fatalf("SELECT pg_backend_pid() through the gateway: %v", rs)
		}
	}
}

// connect is dialWire that fails the test when the startup is refused.
func connect(t *testing.T, g *gw, role string, params map[string]string) *wire {
	t.Helper()
	w, fatal := dialWire(t, g, role, params)
	if fatal != nil {
		t.Fatalf("startup through the gateway refused: %v", *fatal)
	}
	return w
}

func newTag() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "h2tag-" + hex.EncodeToString(b[:])
}

// Close sends Terminate and closes the connection.
func (w *wire) Close() {
	if w.conn == nil {
		return
	}
	if !w.dead {
		w.fe.Send(&pgproto3.Terminate{})
		_ = w.fe.Flush()
	}
	_ = w.conn.Close()
	w.conn = nil
}

// Send writes frames without waiting.
func (w *wire) Send(ms ...pgproto3.FrontendMessage) {
	w.t.Helper()
	for _, m := range ms {
		w.fe.Send(m)
	}
	if err := w.fe.Flush(); err != nil {
		w.dead = true
	}
}

// Until reads messages up to and including the next ReadyForQuery (or the end of the connection, which
// is reported as a final message of type "Closed").
func (w *wire) Until() []msg {
	w.t.Helper()
	var out []msg
	if w.dead || w.conn == nil {
		return append(out, msg{Type: "Closed"})
	}
	_ = w.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		b, err := w.fe.Receive()
		if err != nil {
			w.dead = true
			return append(out, msg{Type: "Closed", Message: err.Error()})
		}
		m := copyMsg(b)
		out = append(out, m)
		if m.Type == "ReadyForQuery" {
			return out
		}
	}
}

// Query sends a simple Query and returns its answer up to ReadyForQuery.
func (w *wire) Query(sql string) []msg {
	w.t.Helper()
	w.Send(&pgproto3.Query{String: sql})
	return w.Until()
}

// Batch sends frames followed by Sync and returns the answer up to ReadyForQuery.
func (w *wire) Batch(ms ...pgproto3.FrontendMessage) []msg {
	w.t.Helper()
	w.Send(append(ms, &pgproto3.Sync{})...)
	return w.Until()
}

// Parse, Bind, Execute, Describe and Close frames, shortened.
func parse(name, sql string) *pgproto3.Parse { return &pgproto3.Parse{Name: name, Query: sql} }
func bind(portal, stmt string) *pgproto3.Bind {
	return &pgproto3.Bind{DestinationPortal: portal, PreparedStatement: stmt}
}
func execute(portal string) *pgproto3.Execute { return &pgproto3.Execute{Portal: portal} }
func describePortal(p string) *pgproto3.Describe {
	return &pgproto3.Describe{ObjectType: 'P', Name: p}
}
func closeStmt(name string) *pgproto3.Close { return &pgproto3.Close{ObjectType: 'S', Name: name} }

// errorOf returns the first error of an answer, or nil.
func errorOf(ms []msg) *msg {
	for i := range ms {
		if ms[i].Type == "Error" {
			return &ms[i]
		}
	}
	return nil
}

// refusedByGateway reports whether an error is pangate's own refusal ("not run": policy or audit log).
func refusedByGateway(m *msg) bool {
	return m != nil && (m.Code == "42501" || m.Code == "58000") && strings.HasPrefix(m.Message, "pangate")
}

// tags returns the CommandComplete tags of an answer.
func tags(ms []msg) []string {
	var out []string
	for _, m := range ms {
		if m.Type == "CommandComplete" {
			out = append(out, m.Message)
		}
	}
	return out
}
