package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pangate/pangate/schemas"
)

// TestPsycopg runs a psycopg 3 (libpq) client through the gateway: parameters, a write, pipeline mode and a
// server-side cursor, and compares with a direct query.
func TestPsycopg(t *testing.T) {
	t.Parallel()
	if err := exec.Command("python3", "-c", "import psycopg").Run(); err != nil {
		t.Fatalf("psycopg is not installed for python3: install it with: pip install \"psycopg[binary]\"")
	}
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	dsn := fmt.Sprintf("host=127.0.0.1 port=%s user=%s@%s dbname=postgres sslmode=require password=%s", g.Port, f.Role, g.Target, g.token("psycopg"))
	out := run(t, exec.Command("python3", "testdata/psycopg_client.py", dsn, f.Table))
	var got struct {
		Rows     [][]any `json:"rows"`
		Pipeline []int   `json:"pipeline"`
		Cursor   int     `json:"cursor"`
	}
	must(t, json.Unmarshal([]byte(out), &got))
	if len(got.Rows) != 5 || fmt.Sprint(got.Rows[0]) != "[1 name 1 1.5]" {
		t.Fatalf("rows: %v", got.Rows)
	}
	if len(got.Pipeline) != 2 || got.Pipeline[0] != 21 || got.Pipeline[1] != 42 || got.Cursor != 21 {
		t.Fatalf("pipeline %v cursor %d", got.Pipeline, got.Cursor)
	}
	var n int
	must(t, f.admin.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) FROM %s WHERE id = 300", f.Table)).Scan(&n))
	if n != 1 {
		t.Fatal("psycopg insert did not arrive")
	}
	checkSessions(t, g, 1)
}

// TestJDBC runs the PostgreSQL JDBC driver (extended protocol, named server-side statements, binary
// transfer, batches) through the gateway.
func TestJDBC(t *testing.T) {
	t.Parallel()
	home, _ := os.UserHomeDir()
	jar := filepath.Join(home, ".m2/repository/org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar")
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("PostgreSQL JDBC driver not found at %s: fetch it with: mvn -q dependency:get -Dartifact=org.postgresql:postgresql:42.7.4", jar)
	}
	g := startGateway(t, gwOpts{})
	f := newFixture(t)
	classes := t.TempDir()
	run(t, exec.Command("javac", "-d", classes, "-cp", jar, "testdata/jdbc/JdbcClient.java"))
	url := fmt.Sprintf("jdbc:postgresql://127.0.0.1:%s/postgres", g.Port)
	out := run(t, exec.Command("java", "-cp", classes+string(os.PathListSeparator)+jar, "JdbcClient", url, f.Role+"@"+g.Target, g.token("jdbc"), f.Table))
	want := "1|name 1|1.5\n2|name 2|3.0\n3|name 3|4.5\n4|name 4|6.0\n5|name 5|7.5\ndone\n"
	if out != want {
		t.Fatalf("JDBC output:\n%s\nwant:\n%s", out, want)
	}
	var n int
	must(t, f.admin.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) FROM %s WHERE id BETWEEN 400 AND 402", f.Table)).Scan(&n))
	if n != 3 {
		t.Fatalf("JDBC batch: %d rows arrived, want 3", n)
	}
	checkSessions(t, g, 1)
}

// checkSessions waits for n ended client sessions and verifies their chains; every statement event is
// schema-valid (the harness validates each record) and has no full PAN.
func checkSessions(t *testing.T, g *gw, n int) {
	t.Helper()
	evs := g.events(t, endedSessions(n))
	for _, s := range clientSessions(evs) {
		if err := schemas.VerifySession(s); err != nil {
			t.Fatal(err)
		}
		q := 0
		for _, e := range s {
			if e.Type == schemas.TypeQueryExecuted {
				q++
				if strings.Contains(string(e.Data), "4111111111111111") {
					t.Errorf("event with a full PAN: %s", e.Data)
				}
			}
		}
		if q == 0 {
			t.Errorf("session %s recorded no statements", s[0].Session)
		}
	}
}
