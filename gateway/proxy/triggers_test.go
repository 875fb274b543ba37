package proxy

import (
	"errors"
	"testing"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/gateway/pgstate"
)

// triggerFacts is a FunctionFacts and TriggerFacts from maps; err makes every trigger answer fail.
type triggerFacts struct {
	fakeFacts
	fires, deferred     map[string]bool // tables absent from fires are unknown
	any, anyDefer, evts bool
	err                 error
}

func (f triggerFacts) WriteTriggers(t string) (bool, bool, error) {
	fires, known := f.fires[t]
	if !known || f.err != nil {
		return true, true, f.err
	}
	return fires, f.deferred[t], nil
}
func (f triggerFacts) AnyTriggers() (bool, error)         { return f.any || f.err != nil, f.err }
func (f triggerFacts) AnyDeferredTriggers() (bool, error) { return f.anyDefer || f.err != nil, f.err }
func (f triggerFacts) EventTriggers() (bool, error)       { return f.evts || f.err != nil, f.err }

// TestTriggersOp checks which statements make the gateway forget names because of code they do not name
// (docs/policy.md, "Names redefined by user code"): none, now (DiscardAll), or now and at the end of the
// transaction (DiscardAllAtTxnEnd). The effect is observed on the session model: a statement s prepared
// before survives or not, and one prepared after survives COMMIT or not.
func TestTriggersOp(t *testing.T) {
	base := triggerFacts{
		fakeFacts: fakeFacts{userFuncs: map[string]bool{"swap": true}},
		fires:     map[string]bool{"plain": false, "public.plain": false, "fired": true, "later": true},
		deferred:  map[string]bool{"later": true},
	}
	with := func(mod func(*triggerFacts)) triggerFacts { f := base; mod(&f); return f }
	const none, now, atEnd = "none", "now", "at end"
	cases := []struct {
		name  string
		sql   string
		facts FunctionFacts
		want  string
	}{
		{"read", "SELECT * FROM fired", base, none},
		{"insert without triggers", "INSERT INTO plain VALUES (1)", base, none},
		{"qualified insert without triggers", "INSERT INTO public.plain VALUES (1)", base, none},
		{"insert with a trigger", "INSERT INTO fired VALUES (1)", base, now},
		{"update with a trigger", "UPDATE fired SET id = 2", base, now},
		{"delete with a trigger", "DELETE FROM fired", base, now},
		{"merge into a table with a trigger", "MERGE INTO fired f USING plain p ON f.id = p.id WHEN NOT MATCHED THEN INSERT VALUES (p.id)", base, now},
		{"data-modifying CTE", "WITH d AS (DELETE FROM fired RETURNING id) SELECT * FROM d", base, now},
		{"copy from", "COPY fired FROM STDIN", base, now},
		{"copy to without writing", "COPY fired TO STDOUT", base, none},
		{"copy of a writing query", "COPY (DELETE FROM fired RETURNING id) TO STDOUT", base, now},
		{"deferred trigger", "INSERT INTO later VALUES (1)", base, atEnd},
		{"unknown table", "INSERT INTO created_since VALUES (1)", base, atEnd},
		{"truncate, no triggers anywhere", "TRUNCATE plain", base, none},
		{"truncate cascade may reach a trigger", "TRUNCATE plain", with(func(f *triggerFacts) { f.any = true }), now},
		{"failed facts", "INSERT INTO plain VALUES (1)", with(func(f *triggerFacts) { f.err = errors.New("down") }), atEnd},
		{"facts without trigger answers", "INSERT INTO plain VALUES (1)", base.fakeFacts, atEnd},
		{"no facts", "INSERT INTO plain VALUES (1)", nil, atEnd},
		{"ddl without event triggers", "CREATE TABLE x (id int)", base, none},
		{"ddl with an event trigger", "CREATE TABLE x (id int)", with(func(f *triggerFacts) { f.evts = true }), now},
		{"grant with an event trigger", "GRANT SELECT ON plain TO someone", with(func(f *triggerFacts) { f.evts = true }), now},
		{"user function, no deferrable trigger", "SELECT swap()", base, now},
		{"user function, a deferrable trigger somewhere", "SELECT swap()", with(func(f *triggerFacts) { f.anyDefer = true }), atEnd},
		{"DO may write anywhere", "DO $$ BEGIN END $$", base, atEnd},
	}
	s := &pgstate.Statement{SQL: "SELECT 1"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cls := classify.Classify(c.sql)[0]
			ss := &session{model: pgstate.New(), facts: c.facts}
			m := ss.model
			m.Done(m.Parse("s", s), true, "")
			got := none
			if op := ss.triggersOp(cls); op != nil {
				m.Done(op(), true, "")
				got = now
				m.Done(m.Parse("s", s), true, "")
				m.Done(m.TxnEnd(), true, "COMMIT")
				if st, _ := m.Statement("s"); st == nil {
					got = atEnd
				}
			} else if st, _ := m.Statement("s"); st != s {
				t.Fatalf("no op, yet s is gone")
			}
			if got != c.want {
				t.Errorf("%s: names forgotten %s, want %s", c.sql, got, c.want)
			}
		})
	}
}

// A write after DDL the server has not answered yet (CREATE TRIGGER; INSERT in one string) cannot trust
// the cached facts, which predate the trigger.
func TestTriggersOpAfterUnansweredDDL(t *testing.T) {
	facts := triggerFacts{fires: map[string]bool{"plain": false}}
	ss := &session{model: pgstate.New(), facts: facts}
	if op := ss.triggersOp(classify.Classify("CREATE TRIGGER t AFTER INSERT ON plain FOR EACH ROW EXECUTE FUNCTION f()")[0]); op != nil {
		t.Fatal("DDL without event triggers forgot names")
	}
	if op := ss.triggersOp(classify.Classify("INSERT INTO plain VALUES (1)")[0]); op == nil {
		t.Error("a write in the segment of an unanswered CREATE TRIGGER kept names")
	}
	ss.model.EndSegment()
	ss.model.Ready('I')
	if op := ss.triggersOp(classify.Classify("INSERT INTO plain VALUES (1)")[0]); op != nil {
		t.Error("a write to a table without triggers forgot names after the DDL was answered")
	}
}
