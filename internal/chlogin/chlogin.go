// Package chlogin tells why a ClickHouse login failed, in words that name the setting to fix.
//
// A wrong password, a user without a password and a database the user may not use are configuration
// mistakes, not an unreachable server: retrying them never helps and "check that clickhouse-server runs"
// sends the operator the wrong way. ClickHouse answers the first three with an exception code (192 unknown
// user, 193 wrong password, 194 password required, 516 authentication failed in newer servers); a database
// that does not exist (81) or that the user may not use (291) is an exception in newer servers, while
// ClickHouse 18.16 closes the connection during the handshake without a word (the driver reports
// "handshake: … read: EOF"; clickhouse-server's own log names the code).
package chlogin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Login is one ClickHouse login and the names of the settings it comes from (for example
// "clickhouse.password (PANGATE_REPORTER_CLICKHOUSE_PASSWORD)").
type Login struct {
	Addrs                                         []string
	Database, User, Password                      string
	DatabaseSetting, UserSetting, PasswordSetting string
}

// ErrRefused is matched (errors.Is) by every *Error.
var ErrRefused = errors.New("ClickHouse refused the login")

// Error is a login ClickHouse refused, with what to fix.
type Error struct {
	Addr, User, Database string
	Code                 int32 // ClickHouse error code; 0 when the server closed the connection without one
	Fix                  string
	Err                  error
}

func (e *Error) Error() string {
	code := ""
	if e.Code != 0 {
		code = fmt.Sprintf(" (ClickHouse code %d)", e.Code)
	}
	return fmt.Sprintf("ClickHouse at %s refused user %q on database %q%s: %s", e.Addr, e.User, e.Database, code, e.Fix)
}

// Unwrap returns the driver's error.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrRefused) true.
func (e *Error) Is(target error) bool { return target == ErrRefused }

// Explain returns an *Error naming the setting to fix when err is ClickHouse refusing l, and nil when err is
// something else (an unreachable server, a timeout, a failed query).
func Explain(l Login, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Addr: strings.Join(l.Addrs, ","), User: l.User, Database: l.Database, Err: err}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		e.Code = ex.Code
		switch ex.Code {
		case 193, 516:
			e.Fix = fmt.Sprintf("wrong password (%s): set %s to user %s's password", ex.Message, l.PasswordSetting, l.User)
		case 194:
			e.Fix = fmt.Sprintf("the user needs a password and none was given: set %s", l.PasswordSetting)
		case 192:
			e.Fix = fmt.Sprintf("no such user: fix %s", l.UserSetting)
		case 81:
			e.Fix = fmt.Sprintf("no such database: fix %s (the indexer's migrations create it)", l.DatabaseSetting)
		case 291, 497:
			e.Fix = fmt.Sprintf("the user may not use this database (%s): fix %s, or allow the database for the user in ClickHouse's users.xml", ex.Message, l.DatabaseSetting)
		default:
			return nil
		}
		return e
	}
	if closedInHandshake(err) {
		e.Fix = fmt.Sprintf("the server closed the connection during the login without an error message, as ClickHouse 18.16 does when the database does not exist (code 81) or the user may not use it (code 291): fix %s, or allow the database for the user in users.xml (clickhouse-server's log names the code)", l.DatabaseSetting)
		return e
	}
	return nil
}

// closedInHandshake reports the server hanging up during the handshake: it answered TCP, so it runs.
func closedInHandshake(err error) bool {
	return strings.Contains(err.Error(), "handshake") && (errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF"))
}

// Check logs in as l once (a handshake and a ping, within timeout) and returns nil when ClickHouse
// accepted, an *Error when it refused, or the driver's error when it could not be asked (unreachable).
// A handshake closed without a word is asked again a few times before it counts: a restarting server
// closes connections too.
func Check(ctx context.Context, l Login, timeout time.Duration) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(500 * time.Millisecond):
			}
		}
		err = ping(ctx, l, timeout)
		if err == nil {
			return nil
		}
		if x := Explain(l, err); x != nil {
			var e *Error
			if errors.As(x, &e) && e.Code != 0 {
				return x
			}
			err = x
			continue
		}
		return err
	}
	return err
}

func ping(ctx context.Context, l Login, timeout time.Duration) error {
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: l.Addrs, DialTimeout: timeout, ReadTimeout: timeout,
		Auth: clickhouse.Auth{Database: l.Database, Username: l.User, Password: l.Password}})
	if err != nil {
		return err
	}
	defer conn.Close()
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return conn.Ping(pctx)
}

// Unreachable reports whether err is a server that did not answer at all (refused, no route, timeout):
// worth retrying at start, as ClickHouse may start after the service.
func Unreachable(err error) bool {
	var ne net.Error
	return err != nil && !errors.Is(err, ErrRefused) && (errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded))
}
