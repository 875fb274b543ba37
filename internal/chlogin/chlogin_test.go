package chlogin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/integration/stack"
)

// TestRefusalsNameTheSetting runs against the local stack's ClickHouse (18.16): the reporter said
// "ClickHouse unreachable … check that clickhouse-server runs" for a wrong password or a forbidden database,
// the indexer retried a forbidden database forever with "read: EOF" and said "Password required for user
// operator" without naming the setting (issue 15).
func TestRefusalsNameTheSetting(t *testing.T) {
	env := stack.Env(t)
	login := func(user, password, db string) Login {
		return Login{Addrs: []string{env.ClickHouseAddr}, User: user, Password: password, Database: db,
			DatabaseSetting: "clickhouse.database (PANGATE_X_DATABASE)", UserSetting: "clickhouse.user (PANGATE_X_USER)",
			PasswordSetting: "clickhouse.password (PANGATE_X_PASSWORD)"}
	}
	ctx := context.Background()
	if err := Check(ctx, login(env.ClickHouseUser, env.ClickHousePassword, "default"), 5*time.Second); err != nil {
		t.Fatalf("the operator's login: %v (is the stack up? %s)", err, stack.StartCommand)
	}
	cases := []struct {
		name  string
		l     Login
		wants []string
	}{
		{"wrong password", login(stack.ClickHouseReporter, "wrong-h17a", "pangate"), []string{"code 193", "wrong password", "PANGATE_X_PASSWORD"}},
		{"no password", login(env.ClickHouseUser, "", "default"), []string{"code 194", "PANGATE_X_PASSWORD"}},
		{"unknown user", login("h17a_nobody", "h17a-secret", "default"), []string{"code 192", "PANGATE_X_USER"}},
		{"forbidden database", login(stack.ClickHouseReporter, env.ClickHouseReporterPassword, "pangate_querylog"), []string{"PANGATE_X_DATABASE", "291"}},
		{"missing database", login(stack.ClickHouseReporter, env.ClickHouseReporterPassword, "h17a_no_such_db"), []string{"PANGATE_X_DATABASE", "81"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(ctx, tc.l, 5*time.Second)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Check = %v, want a refusal", err)
			}
			if Unreachable(err) {
				t.Fatal("a refusal counted as unreachable (retried)")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "clickhouse-server runs") || tc.l.Password != "" && strings.Contains(err.Error(), tc.l.Password) {
				t.Errorf("misleading or leaking message: %q", err)
			}
		})
	}
	// A port nobody listens on is unreachable, not refused.
	err := Check(ctx, Login{Addrs: []string{"127.0.0.1:1"}, User: "x", Database: "default"}, time.Second)
	if err == nil || errors.Is(err, ErrRefused) || !Unreachable(err) {
		t.Fatalf("closed port: %v", err)
	}
}
