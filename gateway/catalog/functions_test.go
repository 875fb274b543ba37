package catalog

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// adminDSN returns the stack's admin DSN from the environment or the repository's .stack/env.
func adminDSN(t *testing.T) string {
	t.Helper()
	if dsn := os.Getenv("PANGATE_PG_ADMIN_DSN"); dsn != "" {
		return dsn
	}
	if f, err := os.Open("../../.stack/env"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "PANGATE_PG_ADMIN_DSN="); ok {
				return v
			}
		}
	}
	t.Fatal("PANGATE_PG_ADMIN_DSN is not set and .stack/env has none: start the stack with `go tool task up` and source .stack/env")
	return ""
}

// purityDB returns a pool on database h1_purity (created if missing) holding a fresh schema h1s with
// a plain table, a view, a table with row-level security, a volatile one-argument function, a user
// function shadowing a built-in name and a user operator.
func purityDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := testDatabase(t, "h1_purity")
	for _, sql := range []string{
		"DROP SCHEMA IF EXISTS h1s CASCADE",
		"DROP FUNCTION IF EXISTS public.upper(int)",
		"CREATE SCHEMA h1s",
		"CREATE TABLE h1s.cards (id int PRIMARY KEY, pan text)",
		"CREATE TABLE h1s.marks (n int)",
		"CREATE FUNCTION h1s.audit_touch(c h1s.cards) RETURNS int LANGUAGE sql VOLATILE AS 'INSERT INTO h1s.marks VALUES (1) RETURNING n'",
		"CREATE VIEW h1s.v_cards AS SELECT id, h1s.audit_touch(c) FROM h1s.cards c",
		"CREATE TABLE h1s.rls_cards (id int)",
		"ALTER TABLE h1s.rls_cards ENABLE ROW LEVEL SECURITY",
		"CREATE FUNCTION public.upper(int) RETURNS int LANGUAGE sql AS 'SELECT 1'",
		"CREATE FUNCTION h1s.eq3(int, int) RETURNS bool LANGUAGE sql AS 'SELECT true'",
		"CREATE OPERATOR h1s.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = h1s.eq3)",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return pool
}

func TestFunctionsAgainstPostgreSQL(t *testing.T) {
	pool := purityDB(t)
	f := NewFunctions(Config{}, pool)
	ask := func(what string, fn func(string) (bool, error), name string, want bool) {
		t.Helper()
		got, err := fn(name)
		if err != nil {
			t.Fatalf("%s(%q): %v", what, name, err)
		}
		if got != want {
			t.Errorf("%s(%q) = %v, want %v", what, name, got, want)
		}
	}
	ask("OneArgFunction", f.OneArgFunction, "audit_touch", true) // user, volatile, one argument
	ask("OneArgFunction", f.OneArgFunction, "pg_terminate_backend", true)
	ask("OneArgFunction", f.OneArgFunction, "nextval", true)
	ask("OneArgFunction", f.OneArgFunction, "lower", false) // allow-listed built-in
	ask("OneArgFunction", f.OneArgFunction, "upper", true)  // allow-listed, but public.upper(int) exists
	ask("OneArgFunction", f.OneArgFunction, "pan", false)
	ask("UserFunction", f.UserFunction, "upper", true)
	ask("UserFunction", f.UserFunction, "lower", false)
	ask("UserOperator", f.UserOperator, "===", true)
	ask("UserOperator", f.UserOperator, "=", false)
	ask("PlainRelation", f.PlainRelation, "h1s.cards", true)
	ask("PlainRelation", f.PlainRelation, "cards", true)
	ask("PlainRelation", f.PlainRelation, "h1_purity.h1s.cards", true)
	ask("PlainRelation", f.PlainRelation, "h1s.v_cards", false)
	ask("PlainRelation", f.PlainRelation, "v_cards", false)
	ask("PlainRelation", f.PlainRelation, "h1s.rls_cards", false)
	ask("PlainRelation", f.PlainRelation, "pg_class", true)
	ask("PlainRelation", f.PlainRelation, "pg_stat_activity", false) // a system view
	ask("PlainRelation", f.PlainRelation, "no_such_table", false)
	if implicit, err := f.UserImplicitCode(); err != nil || implicit {
		t.Errorf("UserImplicitCode = %v, %v; want false in a database without user casts or operator classes", implicit, err)
	}

	// A user cast appears after Invalidate (the proxy calls it after forwarding DDL), not before.
	ctx := context.Background()
	for _, sql := range []string{
		"CREATE TYPE h1s.pair AS (a int, b int)",
		"CREATE FUNCTION h1s.pair_text(h1s.pair) RETURNS text LANGUAGE sql AS 'SELECT ''x'''",
		"CREATE CAST (h1s.pair AS text) WITH FUNCTION h1s.pair_text(h1s.pair)",
		"CREATE VIEW h1s.later AS SELECT 1",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if implicit, _ := f.UserImplicitCode(); implicit {
		t.Errorf("UserImplicitCode changed before Invalidate: the facts are not cached")
	}
	f.Invalidate()
	if implicit, err := f.UserImplicitCode(); err != nil || !implicit {
		t.Errorf("UserImplicitCode after a user cast = %v, %v; want true", implicit, err)
	}
	ask("PlainRelation", f.PlainRelation, "h1s.later", false)
}

// A database that cannot be reached is an error, which callers turn into "has side effects".
func TestFunctionsUnavailable(t *testing.T) {
	var nilF *Functions
	if _, err := nilF.OneArgFunction("x"); err == nil {
		t.Error("nil *Functions answered without error")
	}
	pc, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	f := NewFunctions(Config{Timeout: time.Second}, pool)
	if _, err := f.PlainRelation("cards"); err == nil {
		t.Error("unreachable database answered without error")
	}
	if _, err := f.UserImplicitCode(); err == nil {
		t.Error("the remembered failure was not reported")
	}
}

// testDatabase returns a pool on database name of the stack's PostgreSQL (created if missing), closed when
// the test ends.
func testDatabase(t *testing.T, name string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	dsn := adminDSN(t)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to PostgreSQL at the admin DSN: %v; start the stack with `go tool task up`", err)
	}
	defer admin.Close(ctx)
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pc.ConnConfig.Database = name
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
