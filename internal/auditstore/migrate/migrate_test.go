package migrate

import (
	"testing"
	"testing/fstest"

	"github.com/pangate/pangate/internal/auditstore"
)

func TestSplit(t *testing.T) {
	sql := "-- header; with semicolon\nCREATE TABLE a\n(\n  x String, -- it's a comment; really\n  y DateTime('UTC')\n) ENGINE = MergeTree() ORDER BY x;\n\nALTER TABLE a ADD COLUMN z String;\n"
	got := Split(sql)
	if len(got) != 2 {
		t.Fatalf("got %d statements: %q", len(got), got)
	}
	if got[0] != "CREATE TABLE a\n(\n  x String,\n  y DateTime('UTC')\n) ENGINE = MergeTree() ORDER BY x" {
		t.Errorf("statement 1 = %q", got[0])
	}
	if m := addColumn.FindStringSubmatch(got[1]); m == nil || m[1] != "a" || m[2] != "z" {
		t.Errorf("ADD COLUMN not recognised in %q: %v", got[1], m)
	}
}

func TestLoadEmbedded(t *testing.T) {
	ms, err := Load(auditstore.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].Version != 1 || len(ms[0].Statements) < 10 {
		t.Fatalf("migration 1: version %d, %d statements", ms[0].Version, len(ms[0].Statements))
	}
	for _, m := range ms {
		for _, s := range m.Statements {
			for _, banned := range []string{"DateTime64", "LowCardinality", " TTL ", "CODEC", "INDEX ", "Map(", "JSON", " Bool"} {
				if containsFold(s, banned) {
					t.Errorf("%s uses %q, which ClickHouse 18.16 lacks: %s", m.Name, banned, s)
				}
			}
		}
	}
}

func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestLoadRejects(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"misnamed":  {"m/1_init.sql": {Data: []byte("SELECT 1;")}},
		"duplicate": {"m/0001_a.sql": {Data: []byte("SELECT 1;")}, "m/0001_b.sql": {Data: []byte("SELECT 1;")}},
		"empty":     {"m/0001_a.sql": {Data: []byte("-- nothing\n")}},
		"none":      {"m/readme.txt": {Data: []byte("x")}},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: Load accepted it", name)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("CREATE TABLE a (x String);\n")
	f.Add("-- c\nSELECT 'a--b';\nSELECT 2")
	f.Fuzz(func(t *testing.T, s string) {
		for _, st := range Split(s) {
			if st == "" {
				t.Fatal("empty statement")
			}
		}
	})
}
