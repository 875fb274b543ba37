package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// TestKafkaDownFailsClosed stops the broker mid-session: statements are refused with SQLSTATE 58000 and
// none runs upstream; once the broker is back the same session goes on, and its chain has no gap.
func TestKafkaDownFailsClosed(t *testing.T) {
	g := startGateway(t, gwOpts{ackTimeout: 2 * time.Second})
	f := newFixture(t)
	ctx := context.Background()
	c := g.connect(t, f.Role, "ci-kafka")
	ins := func(id int, mode pgx.QueryExecMode) error {
		_, err := c.Exec(ctx, fmt.Sprintf("INSERT INTO %s VALUES (%d, 'k', 'none', 1)", f.Table, id), mode)
		return err
	}
	must(t, ins(1000, pgx.QueryExecModeExec))

	stack.StopKafka(t)
	for i, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
		err := ins(1001+i, mode)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "58000" {
			t.Fatalf("insert with Kafka down (mode %v): %v, want SQLSTATE 58000", mode, err)
		}
	}
	var n int
	err := c.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s", f.Table)).Scan(&n)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "58000" {
		t.Fatalf("read with Kafka down: %v, want SQLSTATE 58000", err)
	}
	must(t, f.admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE id IN (1001, 1002)", f.Table)).Scan(&n))
	if n != 0 {
		t.Fatalf("%d refused inserts ran upstream", n)
	}

	stack.StartKafka(t)
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := ins(1003, pgx.QueryExecModeExec)
		if err == nil {
			break
		}
		if !errors.As(err, &pe) || pe.Code != "58000" || time.Now().After(deadline) {
			t.Fatalf("session did not recover after Kafka came back: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	must(t, f.admin.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE id IN (1000, 1003)", f.Table)).Scan(&n))
	if n != 2 {
		t.Fatalf("want the inserts before and after the outage, found %d", n)
	}
	must(t, c.Close(ctx))
	evs := g.events(t, endedSessions(1))
	for _, s := range clientSessions(evs) {
		if err := schemas.VerifySession(s); err != nil {
			t.Fatalf("chain after the outage: %v", err)
		}
	}
}
