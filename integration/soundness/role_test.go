package soundness_test

import (
	"fmt"
	"strings"
	"testing"
)

// checkWho fails the test if a row of the who table was written by anything but a JIT role: current_user
// (the column's default) is who PostgreSQL says acted.
func checkWho(t *testing.T, f *fixture) {
	t.Helper()
	rows, err := f.Admin.Query(t.Context(), fmt.Sprintf("SELECT who FROM %s", f.Who))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var who string
		if err := rows.Scan(&who); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(who, "pangate_jit_") {
			t.Errorf("PostgreSQL ran a statement of the session as %q, not as its JIT role", who)
		}
	}
}

// TestSessionRole (issue 11, root cause 5): a session acts as its JIT role only. Startup role= or
// options=-c role=, and every in-session way to change the role (SET ROLE, set_config, the pg_settings
// view, SET SESSION AUTHORIZATION), must leave current_user the JIT role; PostgreSQL's own default
// current_user in the who table says who acted.
func TestSessionRole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := startGateway(t, f, gwOpts{})
	insert := fmt.Sprintf("INSERT INTO %s DEFAULT VALUES", f.Who)
	act := func(qs ...string) func(t *testing.T, w *wire, p *probe) {
		return func(t *testing.T, w *wire, p *probe) {
			for _, q := range qs {
				w.Query(q)
			}
			w.Query(insert)
		}
	}
	var vs []variant
	for _, c := range []struct {
		name   string
		params map[string]string
	}{
		{"StartupRole", map[string]string{"role": f.Other}},
		{"StartupOptionsRole", map[string]string{"options": "-c role=" + f.Other}},
		{"StartupOptionsRoleLong", map[string]string{"options": "--role=" + f.Other}},
		{"StartupRoleOwn", map[string]string{"role": f.Role}},
	} {
		vs = append(vs, variant{name: c.name, params: c.params, run: act()})
	}
	vs = append(vs,
		variant{name: "SetRole", run: act("SET ROLE " + f.Other)},
		variant{name: "SetConfigRole", run: act(fmt.Sprintf("SELECT set_config('role', '%s', false)", f.Other))},
		variant{name: "UpdatePgSettingsRole", run: act(fmt.Sprintf("UPDATE pg_settings SET setting = '%s' WHERE name = 'role'", f.Other))},
		variant{name: "SetSessionAuthorization", run: act("SET SESSION AUTHORIZATION " + f.Other)},
		variant{name: "SetLocalRole", run: func(t *testing.T, w *wire, p *probe) {
			w.Query("BEGIN")
			w.Query("SET LOCAL ROLE " + f.Other)
			w.Query(insert)
			w.Query("COMMIT")
		}},
	)
	for i := range vs {
		run := vs[i].run
		vs[i].run = func(t *testing.T, w *wire, p *probe) {
			run(t, w, p)
			checkWho(t, f)
			f.exec(t, "DELETE FROM "+f.Who)
		}
	}
	// Startup variants the gateway refuses never get a session: runVariants would fail on connect, so the
	// refusal itself is checked here first.
	var rest []variant
	for _, v := range vs {
		if v.params == nil {
			rest = append(rest, v)
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			off := logOffset(t, f)
			w, fatal := dialWire(t, g, f.Role, v.params)
			if fatal != nil {
				if !fatal.Fatal {
					t.Errorf("startup with %v refused without FATAL: %v", v.params, *fatal)
				}
				return
			}
			p := w.probe(v.name)
			v.run(t, w, p)
			w.Close()
			checkAudit(t, g, f, off, p)
		})
	}
	runVariants(t, g, f, rest)
}
