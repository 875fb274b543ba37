package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pangate/pangate/gateway/audit"
	"github.com/pangate/pangate/gateway/auth"
	"github.com/pangate/pangate/gateway/jit"
	"github.com/pangate/pangate/gateway/pgstate"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

// errHandled means the connection was fully dealt with during startup (a cancel request, a refusal that
// was already answered).
var errHandled = errors.New("handled")

// session is one client connection, from startup to the end of the relay. Its fields are grouped by who
// owns them (as cockroachdb's sqlproxyccl forwarder groups its own): set during startup and read-only
// afterwards; owned by the client goroutine (fromClient); owned by the upstream goroutine (fromUpstream);
// shared, each with its own synchronisation.
type session struct {
	// Set during startup, read-only while relaying.
	srv                          *Server
	raw                          net.Conn // accepted connection
	conn                         net.Conn // raw, or the TLS connection over it
	remote                       string
	tls                          bool
	params                       map[string]string
	user, role, target, database string
	app                          string
	tgt                          *Target
	id                           string
	ev                           *audit.Session // ordered by itself; used from both goroutines
	rec                          recorder       // writes the statement events
	claims                       auth.Claims
	grants                       []string
	grantRule                    string
	cred                         jit.Credential
	credOK                       bool
	up                           net.Conn
	cat                          mask.Catalog  // the session database's column catalog (may be nil)
	facts                        FunctionFacts // the session database's function facts (nil: no read is side-effect-free)
	start                        time.Time
	upKeyPID, upKeySecret        uint32
	upKeyOK                      bool

	// Client goroutine: reads the client, decides, records ahead, writes upstream.
	cr            *frameReader
	uw            *bufio.Writer
	stmtIndex     int64
	skipUntilSync bool   // a statement of this batch was refused
	extOpen       bool   // extended-protocol messages since the last Sync
	pendingErr    []byte // the refusal being built

	// Upstream goroutine: reads the server, masks, releases results.
	ur              *frameReader
	stream          *mask.Stream
	gate            *run // the read whose result is held
	discardUntilRFQ bool
	skipCause       string          // SQLSTATE of the error that makes the server skip the rest of the batch
	bindFailed      *pgstate.Portal // the portal whose Bind failed in this batch (its Execute failed with it)
	bindErr         [2]string       // that error's SQLSTATE and masked message

	// Shared by both goroutines.
	cw                  *clientWriter // to the client, under cwMu
	cwMu                sync.Mutex
	relayMu             sync.Mutex     // upstream goroutine, per backend message; see noticeHeld
	q                   queue          // expected responses, in request order
	model               *pgstate.Model // prepared statements, portals, cursors as the server has them
	oc                  outcomes       // recorded-ahead statements until their outcome is in the log
	lexBroken           atomic.Value   // string: why lexing can no longer match the server's
	held                atomic.Value   // *holdWait while a statement waits for approval
	statements, blocked atomic.Int64
	bytesIn, bytesOut   atomic.Int64
	stopOnce            sync.Once
	stopReason          atomic.Value // schemas.EndReason
	closed              chan struct{}
}

func (s *Server) handle(ctx context.Context, c net.Conn) {
	ss := &session{srv: s, raw: c, conn: c, remote: c.RemoteAddr().String(), start: time.Now(),
		closed: make(chan struct{}), model: pgstate.New()}
	ss.oc.init()
	ss.rec = recorder{ss: ss}
	defer c.Close()
	if err := ss.run(ctx); err != nil && !errors.Is(err, errHandled) {
		s.log.Debug("connection ended", "remote", ss.remote, "session", ss.id, "err", err)
	}
}

func (ss *session) run(ctx context.Context) error {
	s := ss.srv
	_ = ss.raw.SetDeadline(time.Now().Add(s.cfg.StartupTimeout))
	if err := ss.startup(); err != nil {
		return err
	}
	if err := ss.authenticate(ctx); err != nil {
		return err
	}
	// From here on the session's chain has begun (auth.succeeded): every way out ends it with session.ended,
	// so an auditor never finds a chain without an end that was not cut by a crash (docs/evidence.md).
	if !s.track(ss) {
		ss.fatal(sqlstateAdminShutdown, "pangate: the gateway is shutting down; reconnect to another instance")
		ss.end(schemas.EndShutdown)
		return errHandled
	}
	defer s.untrack(ss)
	if err := ss.connectUpstream(ctx); err != nil {
		ss.close(schemas.EndError)
		return err
	}
	_ = ss.raw.SetDeadline(time.Time{})
	s.served.Add(1)
	s.m.sessions.Inc()
	defer s.m.sessions.Dec()

	ss.relay()
	ss.endOutcomes()

	reason, _ := ss.stopReason.Load().(schemas.EndReason)
	ss.close(reason)
	return nil
}

// close ends a session that has a JIT role: the role is disabled (no login, backends terminated) and that
// recorded (credential.revoked), then session.ended, and only once session.ended is acknowledged is the
// role dropped. A gateway killed before that leaves the disabled role to the reaper, which finds the
// session's chain without its end and records it (session.reaped); a role dropped first would have left
// no trace of the session to find. If Kafka has not acknowledged session.ended (it goes on trying in the
// background), the role is kept for the reaper too, which drops it once it has expired and the end is in
// the log (docs/evidence.md "Sessions ended by a crash").
func (ss *session) close(reason schemas.EndReason) {
	ss.revoke(revokeReason(reason))
	if ss.end(reason) {
		ss.dropRole()
	} else if ss.cred.Role != "" {
		ss.srv.log.Warn("JIT role kept for the reaper: session.ended not acknowledged yet", "session", ss.id, "role", ss.cred.Role)
	}
}

// end records session.ended, the last event of the session's chain, and reports whether Kafka
// acknowledged it.
func (ss *session) end(reason schemas.EndReason) bool {
	_, err := ss.ev.End(schemas.TypeSessionEnded, schemas.SessionEnded{
		Reason: string(reason), Statements: ss.statements.Load(), Blocked: ss.blocked.Load(),
		DurationUS: time.Since(ss.start).Microseconds(), BytesIn: ss.bytesIn.Load(), BytesOut: ss.bytesOut.Load(),
	})
	if err != nil {
		ss.srv.log.Error("session.ended not recorded", "session", ss.id, "err", err)
	}
	ss.srv.m.sessionsT.WithLabelValues(string(reason)).Inc()
	return err == nil
}

func revokeReason(stop schemas.EndReason) schemas.RevokeReason {
	if stop == schemas.EndShutdown {
		return schemas.RevokeShutdown
	}
	return schemas.RevokeSessionEnd
}

// startup negotiates TLS and reads the StartupMessage; cancel requests are served here.
func (ss *session) startup() error {
	s := ss.srv
	for i := 0; i < 4; i++ {
		code, payload, err := readStartup(ss.conn)
		if err != nil {
			if errors.Is(err, ErrBadStartup) {
				ss.writeRaw(errorFrame(sqlstateProtocol, "FATAL", "pangate: "+err.Error()))
			}
			return err
		}
		switch code {
		case codeSSL:
			if ss.tls || s.cfg.TLS == nil {
				if _, err := ss.conn.Write([]byte{'N'}); err != nil {
					return err
				}
				continue
			}
			if _, err := ss.conn.Write([]byte{'S'}); err != nil {
				return err
			}
			tc := tls.Server(ss.raw, s.cfg.TLS)
			if err := tc.Handshake(); err != nil {
				return fmt.Errorf("TLS handshake: %w", err)
			}
			ss.conn, ss.tls = tc, true
		case codeGSSENC:
			// GSSAPI encryption is not offered; 'N' tells the client to go on with SSLRequest or plaintext.
			if _, err := ss.conn.Write([]byte{'N'}); err != nil {
				return err
			}
		case codeCancel:
			if len(payload) == 8 && s.CancelAllowed() { // a cancel sent inside TLS is rate-limited here
				s.forwardCancel(binary.BigEndian.Uint32(payload[:4]), binary.BigEndian.Uint32(payload[4:]))
			}
			return errHandled
		case codeProtocol3:
			p, err := parseStartupParams(payload)
			if err != nil {
				ss.writeRaw(errorFrame(sqlstateProtocol, "FATAL", "pangate: "+err.Error()))
				return err
			}
			ss.params = p
			return nil
		default:
			if code>>16 == 3 {
				// A newer 3.x minor: PostgreSQL would negotiate; the gateway speaks 3.0 only and says so.
				ss.writeRaw(errorFrame(sqlstateNotSupported, "FATAL", fmt.Sprintf("pangate: protocol 3.%d is not supported; use protocol 3.0", code&0xffff)))
			} else {
				ss.writeRaw(errorFrame(sqlstateProtocol, "FATAL", fmt.Sprintf("pangate: unsupported protocol version %d.%d", code>>16, code&0xffff)))
			}
			return errHandled
		}
	}
	ss.writeRaw(errorFrame(sqlstateProtocol, "FATAL", "pangate: too many startup negotiation packets"))
	return errHandled
}

// writeRaw writes a frame the gateway built itself before the session's mask stream exists. Such frames
// carry only the gateway's own text, which is masked all the same.
func (ss *session) writeRaw(frame []byte) {
	_ = ss.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = ss.conn.Write(frame)
}

// authenticate asks for the token, verifies it, applies the policy's grants and records the outcome.
func (ss *session) authenticate(ctx context.Context) error {
	s := ss.srv
	ss.user = ss.params["user"]
	ss.app, _ = s.deps.Masker.Stored(ss.params["application_name"])
	if !ss.tls && !(s.cfg.AllowPlaintextLoopback && isLoopback(ss.raw.RemoteAddr())) {
		return ss.authFail(ctx, "plaintext", SQLStateAuthSpec,
			"pangate requires TLS: connect with sslmode=require or sslmode=verify-full (your OIDC token is the password)", "", "")
	}
	if msg := checkStartupParams(ss.params); msg != "" {
		return ss.authFail(ctx, "malformed", SQLStateAuthSpec, msg, "", "")
	}
	role, target, ok := strings.Cut(ss.user, "@")
	if i := strings.LastIndexByte(ss.user, '@'); i >= 0 {
		role, target, ok = ss.user[:i], ss.user[i+1:], true
	}
	if !ok || role == "" || target == "" {
		return ss.authFail(ctx, "malformed", SQLStateAuthSpec,
			fmt.Sprintf("pangate: user must be role@target (for example reader@%s), got %q", s.cfg.Targets[0].Name, maskText(s, ss.user)), "", "")
	}
	ss.role, ss.target = role, target
	tgt, ok := s.targets[target]
	if !ok {
		return ss.authFail(ctx, "unknown_target", SQLStateAuthSpec,
			fmt.Sprintf("pangate: unknown target %q: this gateway serves %s", maskText(s, target), strings.Join(s.targetNames(), ", ")), "", "")
	}
	ss.tgt = tgt
	ss.database = ss.params["database"]
	if ss.database == "" {
		ss.database = tgt.Database
	}
	if allowed := tgt.allowedDatabases(); !slices.Contains(allowed, ss.database) {
		// Issue 13.6: a token for one target must not open every database of that server.
		return ss.authFail(ctx, "database_not_allowed", SQLStatePolicyDenied,
			fmt.Sprintf("pangate: database %q is not open through target %q (allowed: %s)", maskText(s, ss.database), target, strings.Join(allowed, ", ")), "", "")
	}

	// AuthenticationCleartextPassword: the password is the token; it only ever travels inside TLS (or on
	// loopback when explicitly allowed).
	ss.writeRaw([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3})
	fr := newFrameReader(ss.conn, 1024, auth.MaxTokenBytes+64)
	typ, frame, err := fr.next()
	if err != nil {
		if errors.Is(err, ErrMessageTooLarge) {
			return ss.authFail(ctx, "malformed", SQLStateAuthFailed, "pangate: password too long to be an OIDC token", "", "")
		}
		return err
	}
	if typ != 'p' {
		return ss.authFail(ctx, "no_password", SQLStateAuthSpec, fmt.Sprintf("pangate: expected a password message, got %q", typ), "", "")
	}
	token, _, _ := cstring(frame[5:])
	if token == "" {
		return ss.authFail(ctx, "no_password", SQLStateAuthFailed, "pangate: empty password: send an OIDC token as the password", "", "")
	}
	vctx, cancel := context.WithTimeout(ctx, s.cfg.StartupTimeout)
	claims, err := s.deps.Verifier.VerifyToken(vctx, token)
	cancel()
	if err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) {
			code := ae.SQLState
			if code == "" {
				code = SQLStateAuthFailed
			}
			return ss.authFail(ctx, ae.Reason, code, "pangate: token refused: "+ae.Message, ae.Issuer, ae.Subject)
		}
		return ss.authFail(ctx, auth.ReasonIssuerUnavailable, SQLStateAuthSpec, "pangate: the token could not be checked; retry later", "", "")
	}
	ss.claims = claims
	grants, rule, err := s.grants(claims.Identity, target, ss.database, role)
	if err != nil {
		return ss.authFail(ctx, "policy", SQLStateAuthSpec, "pangate: "+err.Error(), claims.Identity.Issuer, claims.Identity.Subject)
	}
	ss.grants, ss.grantRule = grants, rule

	ss.id = schemas.NewID()
	ss.ev = s.deps.Audit.Session(ss.id, s.source())
	as := schemas.AuthSucceeded{Identity: claims.Identity, Client: ss.client(), Target: target, Database: ss.database,
		RequestedRole: role, TokenID: claims.ID}
	if !claims.Expiry.IsZero() {
		as.TokenExpiry = schemas.FormatTime(claims.Expiry)
	}
	if _, err := ss.ev.Emit(schemas.TypeAuthSucceeded, as); err != nil {
		s.m.refusals.WithLabelValues("audit_unavailable").Inc()
		ss.writeRaw(errorFrame(SQLStateAuditUnavailable, "FATAL", "pangate: the audit log is unavailable, so no session can start; retry later"))
		// auth.succeeded may still land (its fate unknown, it is sent again): then its chain must end too.
		if _, begun, err := ss.ev.EndIfBegun(schemas.TypeSessionEnded, schemas.SessionEnded{
			Reason: string(schemas.EndAuditUnavailable), DurationUS: time.Since(ss.start).Microseconds(),
		}); begun && err != nil {
			s.log.Warn("session.ended of a refused login not recorded yet; retrying in the background", "session", ss.id, "err", err)
		}
		return errHandled
	}
	return nil
}

// maskText masks a text the gateway records or sends with the storage detector (mask.Masker.Stored),
// which also finds PANs split by any separator, in other digit scripts or encoded: such texts (refusals,
// approver reasons, names) usually go both to the client and into an event, and over-masking them is
// acceptable while a stored PAN is not (docs/masking.md).
func maskText(s *Server, t string) string {
	m, _ := s.deps.Masker.Stored(t)
	return m
}

// authFail records auth.failed (its own one-event session) and refuses the login.
func (ss *session) authFail(_ context.Context, reason, code, msg, iss, sub string) error {
	s := ss.srv
	s.m.refusals.WithLabelValues("auth_" + reason).Inc()
	msg = maskText(s, msg)
	ev := s.deps.Audit.Session(schemas.NewID(), s.source())
	_, err := ev.End(schemas.TypeAuthFailed, schemas.AuthFailed{
		Client: ss.client(), Target: maskText(s, ss.target), User: maskText(s, ss.user), RequestedRole: maskText(s, ss.role),
		Issuer: iss, Subject: sub, Reason: reason, Message: msg, SQLState: code,
	})
	if err != nil {
		s.log.Error("auth.failed not recorded", "remote", ss.remote, "reason", reason, "err", err)
	}
	s.log.Info("login refused", "remote", ss.remote, "reason", reason, "user", maskText(s, ss.user))
	ss.writeRaw(errorFrame(code, "FATAL", msg))
	return errHandled
}

func (ss *session) client() schemas.Client {
	return schemas.Client{Addr: ss.remote, TLS: ss.tls, Application: ss.app}
}

func (s *Server) source() schemas.Source {
	return schemas.Source{Instance: s.cfg.Instance, Version: s.cfg.Version}
}

func (s *Server) targetNames() []string {
	n := make([]string, 0, len(s.cfg.Targets))
	for _, t := range s.cfg.Targets {
		n = append(n, t.Name)
	}
	return n
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if ok {
		return ta.IP.IsLoopback()
	}
	_, isUnix := a.(*net.UnixAddr)
	return isUnix || a.Network() == "pipe"
}

// connectUpstream issues the JIT role, connects as it and greets the client.
func (ss *session) connectUpstream(ctx context.Context) error {
	s := ss.srv
	ictx, cancel := context.WithTimeout(ctx, s.cfg.StartupTimeout)
	defer cancel()
	cred, err := ss.tgt.Credentials.Issue(ictx, ss.id, ss.grants, ss.claims.Expiry)
	if errors.Is(err, jit.ErrExpired) {
		// The token is valid but expires before a role could live any time at all: the client's fix is a
		// fresh token, not a retry.
		s.log.Info("JIT role not issued: token expires too soon", "session", ss.id, "target", ss.target)
		s.m.refusals.WithLabelValues("token_expires_too_soon").Inc()
		ss.fatal(SQLStateAuthSpec, "pangate: the token expires too soon to start a session; get a fresh token and reconnect")
		return errHandled
	}
	if err != nil {
		s.log.Error("JIT role not issued", "session", ss.id, "target", ss.target, "err", err)
		ss.fatal(SQLStateAuthSpec, "pangate: could not create the session's database role: "+maskText(s, err.Error()))
		return errHandled
	}
	ss.cred, ss.credOK = cred, true
	if _, err := ss.ev.Emit(schemas.TypeCredentialIssued, schemas.CredentialIssued{
		Role: cred.Role, Target: ss.target, Granted: cred.Granted, ValidUntil: schemas.FormatTime(cred.ValidUntil),
		TTLMS: cred.ValidUntil.Sub(cred.IssuedAt).Milliseconds(), ForSession: ss.id,
	}); err != nil {
		ss.fatal(SQLStateAuditUnavailable, "pangate: the audit log is unavailable, so no session can start; retry later")
		return errHandled
	}

	pc, err := pgconn.ParseConfig("")
	if err != nil {
		return err
	}
	pc.Host, pc.Port, pc.Database = ss.tgt.Host, uint16(ss.tgt.Port), ss.database
	pc.User, pc.Password = cred.Role, cred.Password
	pc.TLSConfig, pc.Fallbacks = ss.tgt.TLS, nil
	pc.ConnectTimeout = s.cfg.StartupTimeout
	if ss.tgt.Dial != nil {
		pc.DialFunc = ss.tgt.Dial
	}
	// Only allow-listed parameters reach the server (checkStartupParams), and the string-literal rule the
	// gateway lexes with is pinned: as a startup value it is also what RESET and DISCARD ALL return to.
	pc.RuntimeParams = map[string]string{"standard_conforming_strings": "on"}
	for k, v := range ss.params {
		switch strings.ToLower(k) {
		case "user", "database":
		default:
			pc.RuntimeParams[k] = v
		}
	}
	pg, err := pgconn.ConnectConfig(ictx, pc)
	if err != nil {
		msg := "pangate: could not connect to target " + ss.target
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			msg += ": " + pe.Message
		}
		s.log.Error("upstream connect failed", "session", ss.id, "target", ss.target, "err", err)
		ss.fatal(sqlstateUpstream, maskText(s, msg))
		return errHandled
	}
	if err := pg.SyncConn(ictx); err != nil {
		pg.Close(context.Background())
		return err
	}
	hj, err := pg.Hijack()
	if err != nil {
		pg.Close(context.Background())
		return err
	}
	ss.up = hj.Conn
	for k, v := range hj.ParameterStatuses {
		// ALTER DATABASE/ROLE … SET can make the server's defaults unsafe for lexing.
		if msg := lexingStatus(k, v); msg != "" {
			_ = ss.up.Close()
			ss.fatal(sqlstateNotSupported, msg)
			return errHandled
		}
	}
	if len(hj.SecretKey) == 4 {
		ss.upKeyPID, ss.upKeySecret, ss.upKeyOK = hj.PID, binary.BigEndian.Uint32(hj.SecretKey), true
	}

	var cat mask.Catalog
	if ss.tgt.Catalog != nil {
		cat = ss.tgt.Catalog(ss.database)
	}
	ss.cat = cat
	if ss.tgt.Facts != nil {
		ss.facts = ss.tgt.Facts(ss.database)
	}
	ss.stream = s.deps.Masker.NewStream(cat)
	ss.cr = newFrameReader(ss.conn, 8<<10, s.cfg.MaxMessageBytes)
	ss.cw = newClientWriter(ss.conn)
	ss.ur = newFrameReader(ss.up, 16<<10, s.cfg.MaxMessageBytes)
	ss.uw = bufio.NewWriterSize(ss.up, 8<<10)

	if _, err := ss.ev.Emit(schemas.TypeSessionStarted, schemas.SessionStarted{
		Identity: ss.claims.Identity, Client: ss.client(), Target: ss.target, Database: ss.database,
		RequestedRole: ss.role, Role: cred.Role, Granted: cred.Granted, MaskShape: string(s.deps.Masker.Shape()),
		PolicyHash: s.deps.Policy.Hash(), Reads: s.cfg.readsMode(),
	}); err != nil {
		_ = ss.up.Close()
		ss.fatal(SQLStateAuditUnavailable, "pangate: the audit log is unavailable, so no session can start; retry later")
		return errHandled
	}

	// Greet the client as PostgreSQL would, with the upstream's parameters and the gateway's own key.
	ss.toClient('R', []byte{'R', 0, 0, 0, 8, 0, 0, 0, 0})
	for k, v := range hj.ParameterStatuses {
		b, _ := (&pgproto3.ParameterStatus{Name: k, Value: v}).Encode(nil)
		ss.toClient('S', b)
	}
	var pid, secret uint32
	if ss.upKeyOK {
		pid, secret = s.cancel.seal(ss.upKeyPID, ss.upKeySecret)
	} else {
		var rb [8]byte
		_, _ = io.ReadFull(randReader, rb[:])
		pid, secret = binary.BigEndian.Uint32(rb[:4]), binary.BigEndian.Uint32(rb[4:])
	}
	kb := make([]byte, 0, 13)
	kb = append(kb, 'K', 0, 0, 0, 12)
	kb = binary.BigEndian.AppendUint32(kb, pid)
	kb = binary.BigEndian.AppendUint32(kb, secret)
	ss.toClient('K', kb)
	tx := hj.TxStatus
	if tx == 0 {
		tx = 'I'
	}
	ss.toClient('Z', []byte{'Z', 0, 0, 0, 5, tx})
	return ss.flushClient()
}

// toClient masks a backend frame (every message the client receives passes Stream.Message) and buffers it.
func (ss *session) toClient(typ byte, frame []byte) {
	ss.stream.Message(typ, frame[5:])
	_ = ss.writeClient(frame)
}

// fatal sends a FATAL error to the client (before or during the relay) and flushes it.
func (ss *session) fatal(code, msg string) {
	if ss.cw == nil {
		ss.writeRaw(errorFrame(code, "FATAL", msg))
		return
	}
	f := errorFrame(code, "FATAL", msg)
	ss.stream.Message('E', f[5:])
	ss.cwMu.Lock()
	_ = ss.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = ss.cw.Write(f)
	_ = ss.cw.Flush()
	ss.cwMu.Unlock()
}

// stop ends the relay for reason (the first reason wins) by closing both connections.
func (ss *session) stop(reason schemas.EndReason) {
	ss.stopOnce.Do(func() {
		ss.stopReason.Store(reason)
		if reason == schemas.EndShutdown && ss.cw != nil {
			ss.fatal(sqlstateAdminShutdown, "pangate: the gateway is shutting down; reconnect")
		}
		close(ss.closed)
		ss.model.Close()
		ss.closeOutcomes()
		_ = ss.conn.Close()
		if ss.up != nil {
			_ = ss.up.Close()
		}
	})
}

// revoke disables the JIT role (no login, its backends terminated) and records it; dropRole drops it
// once the session's end is recorded (close).
func (ss *session) revoke(reason schemas.RevokeReason) {
	if !ss.credOK {
		return
	}
	ss.credOK = false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ss.tgt.Credentials.Disable(ctx, ss.cred)
	cr := schemas.CredentialRevoked{Role: ss.cred.Role, Target: ss.target, Reason: string(reason), IssuedAt: schemas.FormatTime(ss.cred.IssuedAt)}
	if err != nil {
		cr.Error = maskText(ss.srv, err.Error())
		ss.srv.log.Error("JIT role not revoked (the reaper will drop it once expired)", "session", ss.id, "role", ss.cred.Role, "err", err)
	}
	if _, err := ss.ev.Emit(schemas.TypeCredentialRevoked, cr); err != nil {
		ss.srv.log.Error("credential.revoked not recorded", "session", ss.id, "role", ss.cred.Role, "err", err)
	}
}

// dropRole drops the session's JIT role, disabled by revoke, once the session's end is recorded. A failure
// is logged: the role can no longer log in, and the reaper drops it once it has expired.
func (ss *session) dropRole() {
	if ss.cred.Role == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ss.tgt.Credentials.Revoke(ctx, ss.cred); err != nil {
		ss.srv.log.Error("JIT role disabled but not dropped (the reaper will drop it once expired)", "session", ss.id, "role", ss.cred.Role, "err", err)
	}
}

// forwardCancel decodes the client's key and sends a CancelRequest to every target; a backend whose pid
// and secret do not both match ignores it.
func (s *Server) forwardCancel(pid, secret uint32) {
	upid, usecret := s.cancel.open(pid, secret)
	if s.cancelHeld(upid, usecret) {
		return // the statement is held, not running: withdrawing its approval is the cancel
	}
	var pkt [16]byte
	binary.BigEndian.PutUint32(pkt[0:], 16)
	binary.BigEndian.PutUint32(pkt[4:], codeCancel)
	binary.BigEndian.PutUint32(pkt[8:], upid)
	binary.BigEndian.PutUint32(pkt[12:], usecret)
	for _, t := range s.cfg.Targets {
		go func(t Target) {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), 5*time.Second)
			if err != nil {
				s.log.Warn("cancel not forwarded", "target", t.Name, "err", err)
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			var w net.Conn = c
			if t.TLS != nil {
				if _, err := c.Write([]byte{0, 0, 0, 8, 4, 210, 22, 47}); err != nil {
					return
				}
				var b [1]byte
				if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'S' {
					return
				}
				tc := tls.Client(c, t.TLS)
				if err := tc.Handshake(); err != nil {
					return
				}
				w = tc
			}
			_, _ = w.Write(pkt[:])
			// PostgreSQL closes the connection after reading the request; wait for that so the cancel is
			// delivered before we return.
			_, _ = io.Copy(io.Discard, w)
		}(t)
	}
	s.m.refusals.WithLabelValues("cancel_forwarded").Inc()
}
