package gateway_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	gatewayconfig "github.com/pangate/pangate/gateway/config"
)

// TestCancelPgx cancels a long pg_sleep with pgx's CancelRequest through the gateway.
func TestCancelPgx(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	c := g.connect(t, f.Role, "ci-cancel")
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), "SELECT pg_sleep(60)")
		errc <- err
	}()
	waitRunning(t, f, "pg_sleep(60)")
	if err := c.PgConn().CancelRequest(context.Background()); err != nil {
		t.Fatal(err)
	}
	expectCanceled(t, errc)
}

// TestCancelOtherInstance sends the cancel to a second gateway instance sharing the cancel key: it is
// stateless, so the key alone lets it find the upstream backend.
func TestCancelOtherInstance(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "cancel.key")
	must(t, os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef-shared"), 0o600))
	opts := gwOpts{configure: func(c *gatewayconfig.Config) { c.CancelKeyFile = keyFile }}
	g1 := startGateway(t, opts)
	g2 := startGateway(t, opts)
	f := newFixture(t)
	c := g1.connect(t, f.Role, "ci-cancel-2")
	errc := make(chan error, 1)
	go func() {
		_, err := c.Exec(context.Background(), "SELECT pg_sleep(61)")
		errc <- err
	}()
	waitRunning(t, f, "pg_sleep(61)")
	conn, err := net.Dial("tcp", g2.Addr)
	must(t, err)
	pkt := make([]byte, 16)
	binary.BigEndian.PutUint32(pkt[0:], 16)
	binary.BigEndian.PutUint32(pkt[4:], 80877102)
	binary.BigEndian.PutUint32(pkt[8:], c.PgConn().PID())
	copy(pkt[12:], c.PgConn().SecretKey())
	_, err = conn.Write(pkt)
	must(t, err)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _ = conn.Read(make([]byte, 1)) // the gateway closes once it forwarded the cancel
	conn.Close()
	expectCanceled(t, errc)
}

func waitRunning(t *testing.T, f *fixture, q string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		must(t, f.admin.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()", q).Scan(&n))
		if n > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never started upstream", q)
}

func expectCanceled(t *testing.T, errc chan error) {
	t.Helper()
	select {
	case err := <-errc:
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57014" {
			t.Fatalf("want query_canceled (57014), got %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the statement was not cancelled")
	}
}
