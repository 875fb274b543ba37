package catalog

import "strings"

// Trigger facts answer whether a statement runs user code that the statement text does not name: row and
// statement triggers fired by a write (on the table, its partitions and inheritance children, and the
// tables a foreign key's ON DELETE/UPDATE action writes), rules, deferrable constraint triggers that run
// at COMMIT, and event triggers fired by DDL. Such code can DEALLOCATE and PREPARE under a name the
// gateway knows (docs/policy.md, "Names redefined by user code"), so the proxy forgets names after it.
// They are loaded with the function facts (one query, same TTL, same invalidation after DDL).

// triggerCTE heads factsQuery: reach(src, dst) holds every relation dst a write to src may write too —
// itself, its partitions and inheritance children, and the referencing tables of a foreign key whose
// action is not NO ACTION or RESTRICT (CASCADE, SET NULL, SET DEFAULT write them), transitively; code is
// every enabled user trigger and every rule other than a view's _RETURN; rel sums code up per src.
const triggerCTE = `
WITH RECURSIVE edge(a, b) AS (
  SELECT i.inhparent, i.inhrelid FROM pg_catalog.pg_inherits i
  UNION ALL
  SELECT k.confrelid, k.conrelid FROM pg_catalog.pg_constraint k
   WHERE k.contype = 'f' AND (k.confupdtype NOT IN ('a', 'r') OR k.confdeltype NOT IN ('a', 'r'))
), reach(src, dst) AS (
  SELECT c.oid, c.oid FROM pg_catalog.pg_class c WHERE c.relkind NOT IN ('i', 'I', 't', 'S')
  UNION
  SELECT r.src, e.b FROM reach r JOIN edge e ON e.a = r.dst
), code(rel, defers) AS (
  SELECT t.tgrelid, t.tgdeferrable FROM pg_catalog.pg_trigger t WHERE NOT t.tgisinternal AND t.tgenabled <> 'D'
  UNION ALL
  SELECT w.ev_class, false FROM pg_catalog.pg_rewrite w WHERE w.rulename <> '_RETURN'
), rel(oid, runs, deferred) AS (
  SELECT r.src, pg_catalog.bool_or(k.rel IS NOT NULL), COALESCE(pg_catalog.bool_or(k.defers), false)
    FROM reach r LEFT JOIN code k ON k.rel = r.dst GROUP BY r.src
)`

// triggerRows ends factsQuery: per relation whether a write runs user code ('trg'; every relation that
// is not a plain or partitioned table counts: views write through to their base tables or run INSTEAD
// OF triggers, foreign tables run their wrapper) and whether it may defer user code to COMMIT ('dtrg');
// whether the database has any user trigger or rule ('anytrg', for TRUNCATE … CASCADE, which empties
// every referencing table), any deferrable one ('anydtrg', for user functions, whose writes the gateway
// does not see) and any enabled event trigger ('evt').
const triggerRows = `
UNION ALL
SELECT 'trg', n.nspname, c.relname, c.relkind NOT IN ('r', 'p') OR x.runs
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN rel x ON x.oid = c.oid
UNION ALL
SELECT 'dtrg', n.nspname, c.relname, x.deferred
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace JOIN rel x ON x.oid = c.oid
UNION ALL
SELECT 'anytrg', '', '', EXISTS (SELECT 1 FROM code)
UNION ALL
SELECT 'anydtrg', '', '', EXISTS (SELECT 1 FROM code WHERE defers)
UNION ALL
SELECT 'evt', '', '', EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger e WHERE e.evtenabled <> 'D')`

// triggerFacts are the trigger part of functionFacts.
type triggerFacts struct {
	// writeCode and deferred map "schema.name" and "name" (true when any relation so named is) to
	// whether a write runs user code / may run it at COMMIT.
	writeCode, deferred map[string]bool
	anyCode             bool // some relation has a user trigger or rule
	anyDeferred         bool // some relation has a deferrable user trigger
	eventTriggers       bool // an event trigger is enabled
	seen                int  // bits 1, 2, 4: the anytrg, evt and anydtrg rows
}

func (t *triggerFacts) add(kind, schema, name string, flag bool) {
	switch kind {
	case "trg":
		t.writeCode[schema+"."+name] = flag
		t.writeCode[name] = t.writeCode[name] || flag
	case "dtrg":
		t.deferred[schema+"."+name] = flag
		t.deferred[name] = t.deferred[name] || flag
	case "anytrg":
		t.anyCode, t.seen = flag, t.seen|1
	case "evt":
		t.eventTriggers, t.seen = flag, t.seen|2
	case "anydtrg":
		t.anyDeferred, t.seen = flag, t.seen|4
	}
}

// relationKey drops a database qualifier ("db.schema.name" → "schema.name").
func relationKey(table string) string {
	if parts := strings.Split(table, "."); len(parts) > 2 {
		return strings.Join(parts[len(parts)-2:], ".")
	}
	return table
}

// WriteTriggers reports whether a write to table ("name", "schema.name" or "db.schema.name" as the
// classifier writes it) may run user code the statement does not name — a trigger or rule on it, on a
// partition or inheritance child, or on a table its foreign keys' actions write — (fires), and whether
// some of it may run only at COMMIT or SET CONSTRAINTS, a deferrable constraint trigger (deferred). An
// unqualified name counts if any relation so named does; an unknown name (created since the last load,
// temporary) counts as both.
func (f *Functions) WriteTriggers(table string) (fires, deferred bool, err error) {
	facts, err := f.get()
	if err != nil {
		return true, true, err
	}
	key := relationKey(table)
	fires, known := facts.writeCode[key]
	if !known {
		return true, true, nil
	}
	return fires, facts.deferred[key], nil
}

// AnyTriggers reports whether any relation of the database has a user trigger or rule: TRUNCATE …
// CASCADE empties referencing tables the statement does not name.
func (f *Functions) AnyTriggers() (bool, error) {
	facts, err := f.get()
	if err != nil {
		return true, err
	}
	return facts.anyCode, nil
}

// AnyDeferredTriggers reports whether any relation of the database has a deferrable user trigger: user
// code (a function, DO, CALL) may write to its table, and the trigger then runs at COMMIT.
func (f *Functions) AnyDeferredTriggers() (bool, error) {
	facts, err := f.get()
	if err != nil {
		return true, err
	}
	return facts.anyDeferred, nil
}

// EventTriggers reports whether the database has an enabled event trigger: DDL (and GRANT, COMMENT,
// REFRESH MATERIALIZED VIEW, …) then runs its function.
func (f *Functions) EventTriggers() (bool, error) {
	facts, err := f.get()
	if err != nil {
		return true, err
	}
	return facts.eventTriggers, nil
}
