package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/schemas"
)

// TestCachedStatementBinaryPAN: a binary int8 PAN from a statement pgx's statement cache runs again, with
// another statement in between, is masked end to end. It is a guard, not the regression test: pgx v5.13
// describes the portal here, so it passed with the masking-order bug too; the wire-level regression (an
// Execute with no RowDescription, as JDBC sends) is gateway/proxy TestCachedStatementMaskedByItsOwnLayout.
func TestCachedStatementBinaryPAN(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	ctx := context.Background()
	tbl := f.Table + "_num"
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, label text, acct int8)`, tbl),
		fmt.Sprintf(`INSERT INTO %s VALUES (1, 'plain', 42), (2, 'card', 4111111111111111)`, tbl),
		fmt.Sprintf(`GRANT SELECT ON %s TO %s`, tbl, f.Role),
	} {
		if _, err := f.admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = f.admin.Exec(context.Background(), "DROP TABLE IF EXISTS "+tbl) })
	c := g.connect(t, f.Role, "ci-cache")
	for i := 0; i < 3; i++ {
		var label string
		if err := c.QueryRow(ctx, fmt.Sprintf("SELECT label FROM %s WHERE id = 1", tbl), pgx.QueryExecModeCacheStatement).Scan(&label); err != nil || label != "plain" {
			t.Fatalf("label %q: %v", label, err)
		}
		var acct int64
		if err := c.QueryRow(ctx, fmt.Sprintf("SELECT acct FROM %s WHERE id = 2", tbl), pgx.QueryExecModeCacheStatement).Scan(&acct); err != nil {
			t.Fatal(err)
		}
		if acct == 4111111111111111 || acct%10000 != 1111 {
			t.Fatalf("run %d: int8 PAN through the gateway = %d, want it masked (first six + last four)", i, acct)
		}
	}
}

// TestCopyWholeTableTaggedColumn: COPY of a whole table with a column matching a mask pattern
// (card_number) masks that column whole, even content scanning would let it pass (a Luhn-invalid
// number), using the table's columns from the catalog; the statement is recorded as cardholder access.
func TestCopyWholeTableTaggedColumn(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	ctx := context.Background()
	tbl := f.Table + "_vault"
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, card_number text, note text)`, tbl),
		fmt.Sprintf(`INSERT INTO %s VALUES (7, '4111111111111112', 'hello')`, tbl),
		fmt.Sprintf(`GRANT SELECT ON %s TO %s`, tbl, f.Role),
	} {
		if _, err := f.admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _, _ = f.admin.Exec(context.Background(), "DROP TABLE IF EXISTS "+tbl) })
	c := g.connect(t, f.Role, "ci-copy")
	for _, q := range []string{fmt.Sprintf("COPY %s TO STDOUT", tbl), fmt.Sprintf("COPY %s (note, card_number) TO STDOUT", tbl)} {
		var out bytes.Buffer
		if _, err := c.PgConn().CopyTo(ctx, &out, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if strings.Contains(out.String(), "4111111111111112") || !strings.Contains(out.String(), "hello") {
			t.Fatalf("%s: %q, want card_number masked whole and note intact", q, out.String())
		}
	}
	must(t, c.Close(ctx))
	evs := g.events(t, endedSessions(1))
	n := 0
	for _, e := range evs {
		if e.Type != schemas.TypeQueryExecuted {
			continue
		}
		var qe schemas.QueryExecuted
		must(t, e.Decode(&qe))
		if strings.HasPrefix(qe.Statement.SQL, "COPY") {
			n++
			if !qe.Statement.Cardholder {
				t.Errorf("%s: cardholder false", qe.Statement.SQL)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d COPY statements recorded, want 2", n)
	}
}
