package panleak_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// Lineage (issue 12, item 2): with the example's column tags and the default policy (deploy/policy/pci.yaml,
// grants replaced by one for the fixture's role, no approver), statements that launder a tagged column
// through an expression are held — refused, as no approver runs — before they reach PostgreSQL, and a
// plain SELECT pan still returns masked values. Checked through psql (text) and pgx (binary, extended
// protocol): the client's bytes, the query.blocked events and their rule.

// lineageLaundering are statements the default policy must hold; {t} is the fixture's table.
var lineageLaundering = []string{
	`SELECT lower(pan) FROM {t} ORDER BY id`,
	`SELECT pan::bigint * 10 FROM {t} ORDER BY id`,
	`SELECT translate(pan, '0123456789', 'abcdefghij') FROM {t}`,
	`SELECT row_to_json(c) FROM {t} c`,
	`SELECT reverse(pan_rev) FROM {t}`,
	`SELECT x.p FROM (SELECT pan || '' AS p FROM {t}) x`,
	`SELECT 1 FROM {t} WHERE pg_notify('h4lineage', pan) IS NULL`,
	`SELECT int8range(pan::bigint, pan::bigint + 1) FROM {t}`,
}

// pciPolicy returns deploy/policy/pci.yaml with its grants replaced by one grant of role to anyone.
func pciPolicy(t *testing.T, role string) string {
	t.Helper()
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "policy", "pci.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	grants := regexp.MustCompile(`(?ms)^grants:\n.*?^rules:\n`)
	if !grants.Match(b) {
		t.Fatal("deploy/policy/pci.yaml: no grants section followed by rules")
	}
	return grants.ReplaceAllLiteralString(string(b), "grants:\n  - {name: h4-lineage, when: 'true', roles: ["+role+"]}\n\nrules:\n")
}

func TestLineageHeld(t *testing.T) {
	f := newFixture(t)
	g := startGatewayPolicy(t, f, pciPolicy(t, f.Role))
	det := newDetector(f.PANs)
	sqls := make([]string, len(lineageLaundering))
	for i, s := range lineageLaundering {
		sqls[i] = strings.ReplaceAll(s, "{t}", f.Table)
	}
	plain := "SELECT pan FROM " + f.Table + " ORDER BY id"

	t.Run("pgx", func(t *testing.T) {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
			cl := connect(t, g, f, mode)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			for _, sql := range sqls {
				rows, err := cl.c.Query(ctx, sql)
				n := 0
				if err == nil {
					for rows.Next() {
						n++
					}
					rows.Close()
					err = rows.Err()
				}
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != "42501" || !strings.Contains(pe.Message, "requires approval") {
					t.Errorf("%v %s: %d rows, error %s; want it held (42501, requires approval)", mode, sql, n, redactErr(err, f.PANs))
				}
			}
			var got []string
			rows, err := cl.c.Query(ctx, plain)
			if err != nil {
				t.Fatalf("%v plain select: %s", mode, redactErr(err, f.PANs))
			}
			for rows.Next() {
				var p string
				if err := rows.Scan(&p); err != nil {
					t.Fatal(err)
				}
				got = append(got, p)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				t.Fatalf("%v plain select: %s", mode, redactErr(err, f.PANs))
			}
			if len(got) != len(f.PANs) {
				t.Errorf("%v plain select: %d rows, want %d", mode, len(got), len(f.PANs))
			}
			for i, p := range got {
				if i < len(f.PANs) && (p == f.PANs[i] || len(p) != len(f.PANs[i]) || !strings.ContainsRune(p, '*')) {
					t.Errorf("%v plain select row %d: not a masked value of the seeded PAN's length", mode, i+1)
				}
			}
			cancel()
			for _, fd := range det.scan("pgx client bytes", cl.rec.take()) {
				t.Errorf("LEAK %s", fd)
			}
			cl.c.Close(context.Background())
		}
	})

	t.Run("psql", func(t *testing.T) {
		args := []string{"-X", "-A", "-t", g.dsn(f.Role, "h4-lineage-psql")}
		for _, sql := range sqls {
			args = append(args, "-c", sql)
		}
		args = append(args, "-c", plain)
		cmd := exec.Command("psql", args...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run() // held statements make the status non-zero; the outputs decide
		if n := strings.Count(errb.String(), "requires approval"); n != len(sqls) {
			t.Errorf("psql: %d refusals, want %d:\n%s", n, len(sqls), redact(errb.String(), f.PANs))
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != len(f.PANs) {
			t.Errorf("psql printed %d lines, want the %d masked PANs of the plain select:\n%s", len(lines), len(f.PANs), redact(out.String(), f.PANs))
		}
		for i, l := range lines {
			if i < len(f.PANs) && (l == f.PANs[i] || !strings.ContainsRune(l, '*')) {
				t.Errorf("psql plain select line %d is not masked", i+1)
			}
		}
		for _, fd := range append(det.scan("psql stdout", []byte(out.String())), det.scan("psql stderr", []byte(errb.String()))...) {
			t.Errorf("LEAK %s", fd)
		}
	})

	// Three sessions: pgx twice, psql once. Every laundering statement of each is a query.blocked of
	// rule hold-derived-cardholder; none is a query.executed; no record holds a PAN.
	raws, evs := g.records(t, 3)
	blocked := map[string]int{}
	for _, e := range evs {
		switch e.Type {
		case schemas.TypeQueryBlocked:
			var qb schemas.QueryBlocked
			if err := e.Decode(&qb); err != nil {
				t.Fatal(err)
			}
			if qb.Rule != "hold-derived-cardholder" {
				t.Errorf("query.blocked %q by rule %q, want hold-derived-cardholder", qb.Statement.SQL, qb.Rule)
			}
			blocked[qb.Statement.SQL]++
		case schemas.TypeQueryExecuted:
			var qe schemas.QueryExecuted
			if err := e.Decode(&qe); err != nil {
				t.Fatal(err)
			}
			for _, sql := range sqls {
				if qe.Statement.SQL == sql {
					t.Errorf("laundering statement executed: %s", sql)
				}
			}
		}
	}
	for _, sql := range sqls {
		if blocked[sql] != 3 {
			t.Errorf("%s: blocked %d times, want 3 (pgx twice, psql)", sql, blocked[sql])
		}
	}
	for i, r := range raws {
		for _, fd := range det.scan("kafka record", r) {
			t.Errorf("LEAK record %d: %s", i, fd)
		}
	}
	for _, fd := range det.scan("gateway log", []byte(strings.Join(g.Logs(), "\n"))) {
		t.Errorf("LEAK %s", fd)
	}
}
