package catalog

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// triggersDB returns a pool on database triggers_cat (created if missing) holding a fresh schema trg.
func triggersDB(t *testing.T, setup ...string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := testDatabase(t, "triggers_cat")
	for _, sql := range append([]string{
		"DROP EVENT TRIGGER IF EXISTS trg_evt",
		"DROP SCHEMA IF EXISTS trg CASCADE",
		"CREATE SCHEMA trg",
		"CREATE FUNCTION trg.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'",
		"CREATE FUNCTION trg.noop_evt() RETURNS event_trigger LANGUAGE plpgsql AS 'BEGIN END'",
	}, setup...) {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return pool
}

func TestWriteTriggersAgainstPostgreSQL(t *testing.T) {
	pool := triggersDB(t,
		"CREATE TABLE trg.plain (id int PRIMARY KEY)",
		"CREATE TABLE trg.fired (id int)",
		"CREATE TRIGGER t AFTER INSERT ON trg.fired FOR EACH ROW EXECUTE FUNCTION trg.noop()",
		"CREATE TABLE trg.disabled (id int)",
		"CREATE TRIGGER t AFTER INSERT ON trg.disabled FOR EACH ROW EXECUTE FUNCTION trg.noop()",
		"ALTER TABLE trg.disabled DISABLE TRIGGER t",
		// A trigger on one partition only: a write to the parent may land there.
		"CREATE TABLE trg.parted (id int) PARTITION BY RANGE (id)",
		"CREATE TABLE trg.parted_a PARTITION OF trg.parted FOR VALUES FROM (0) TO (10)",
		"CREATE TABLE trg.parted_b PARTITION OF trg.parted FOR VALUES FROM (10) TO (20)",
		"CREATE TRIGGER t AFTER INSERT ON trg.parted_b FOR EACH ROW EXECUTE FUNCTION trg.noop()",
		// Inheritance: a trigger on a child.
		"CREATE TABLE trg.base (id int)",
		"CREATE TABLE trg.derived () INHERITS (trg.base)",
		"CREATE TRIGGER t BEFORE UPDATE ON trg.derived FOR EACH ROW EXECUTE FUNCTION trg.noop()",
		// ON DELETE CASCADE writes the referencing table, whose trigger fires; NO ACTION does not.
		"CREATE TABLE trg.owner (id int PRIMARY KEY)",
		"CREATE TABLE trg.owned (owner int REFERENCES trg.owner ON DELETE CASCADE)",
		"CREATE TRIGGER t AFTER DELETE ON trg.owned FOR EACH ROW EXECUTE FUNCTION trg.noop()",
		"CREATE TABLE trg.checked (owner int REFERENCES trg.plain)",
		"CREATE TRIGGER t AFTER DELETE ON trg.checked FOR EACH ROW EXECUTE FUNCTION trg.noop()",
		// A deferrable constraint trigger runs at COMMIT.
		"CREATE TABLE trg.later (id int)",
		"CREATE CONSTRAINT TRIGGER t AFTER INSERT ON trg.later DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION trg.noop()",
		"CREATE TABLE trg.ruled (id int)",
		"CREATE RULE r AS ON INSERT TO trg.ruled DO ALSO NOTIFY trg_ruled",
		"CREATE VIEW trg.v AS SELECT id FROM trg.plain",
		// The same name in another schema: unqualified "plain" is one of them.
		"CREATE TABLE public.plain (id int)",
		"CREATE TRIGGER t AFTER INSERT ON public.plain FOR EACH ROW EXECUTE FUNCTION trg.noop()",
	)
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP TABLE IF EXISTS public.plain") })
	f := NewFunctions(Config{}, pool)
	for _, c := range []struct {
		table           string
		fires, deferred bool
	}{
		{"trg.plain", false, false},
		{"triggers_cat.trg.plain", false, false},
		{"plain", true, false}, // public.plain has a trigger
		{"trg.fired", true, false},
		{"trg.disabled", false, false},
		{"trg.parted", true, false},
		{"trg.parted_a", false, false},
		{"trg.parted_b", true, false},
		{"trg.base", true, false},
		{"trg.derived", true, false},
		{"trg.owner", true, false},
		{"trg.owned", true, false},
		{"trg.checked", true, false},
		{"trg.later", true, true},
		{"trg.ruled", true, false},
		{"trg.v", true, false},
		{"trg.no_such_table", true, true},
	} {
		fires, deferred, err := f.WriteTriggers(c.table)
		if err != nil {
			t.Fatalf("WriteTriggers(%q): %v", c.table, err)
		}
		if fires != c.fires || deferred != c.deferred {
			t.Errorf("WriteTriggers(%q) = %v, %v; want %v, %v", c.table, fires, deferred, c.fires, c.deferred)
		}
	}
	if any, err := f.AnyTriggers(); err != nil || !any {
		t.Errorf("AnyTriggers = %v, %v; want true", any, err)
	}
	if d, err := f.AnyDeferredTriggers(); err != nil || !d {
		t.Errorf("AnyDeferredTriggers = %v, %v; want true (trg.later)", d, err)
	}
	if evt, err := f.EventTriggers(); err != nil || evt {
		t.Errorf("EventTriggers = %v, %v; want false before an event trigger exists", evt, err)
	}

	// An event trigger (superuser) and a new trigger show after Invalidate, not before.
	ctx := context.Background()
	for _, sql := range []string{
		"CREATE EVENT TRIGGER trg_evt ON ddl_command_end EXECUTE FUNCTION trg.noop_evt()",
		"CREATE TRIGGER t AFTER TRUNCATE ON trg.plain EXECUTE FUNCTION trg.noop()",
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() { _, _ = pool.Exec(context.Background(), "DROP EVENT TRIGGER IF EXISTS trg_evt") })
	if evt, _ := f.EventTriggers(); evt {
		t.Error("EventTriggers changed before Invalidate: the facts are not cached")
	}
	f.Invalidate()
	if evt, err := f.EventTriggers(); err != nil || !evt {
		t.Errorf("EventTriggers after CREATE EVENT TRIGGER = %v, %v; want true", evt, err)
	}
	if fires, _, err := f.WriteTriggers("trg.plain"); err != nil || !fires {
		t.Errorf("WriteTriggers(trg.plain) after CREATE TRIGGER = %v, %v; want true", fires, err)
	}
}

// Facts that cannot be loaded count as triggers everywhere (fail closed).
func TestTriggersUnavailable(t *testing.T) {
	var nilF *Functions
	fires, deferred, err := nilF.WriteTriggers("cards")
	if err == nil || !fires || !deferred {
		t.Errorf("nil *Functions: WriteTriggers = %v, %v, %v; want true, true and an error", fires, deferred, err)
	}
	if evt, err := nilF.EventTriggers(); err == nil || !evt {
		t.Errorf("nil *Functions: EventTriggers = %v, %v; want true and an error", evt, err)
	}
	if d, err := nilF.AnyDeferredTriggers(); err == nil || !d {
		t.Errorf("nil *Functions: AnyDeferredTriggers = %v, %v; want true and an error", d, err)
	}
	if any, err := nilF.AnyTriggers(); err == nil || !any {
		t.Errorf("nil *Functions: AnyTriggers = %v, %v; want true and an error", any, err)
	}
}
