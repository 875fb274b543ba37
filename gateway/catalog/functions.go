package catalog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pangate/pangate/gateway/classify"
)

// Functions answers what the classifier cannot know from the text alone when it judges a read
// side-effect-free (classify.Statement.SideEffectFree, issue 11 part 4; docs/policy.md): which names in
// attribute position are functions, whether a user function or operator shares an allow-listed name,
// which relations run code when read (views, foreign tables, tables with row-level security), and
// whether the database defines casts or operator classes that run user functions implicitly.
//
// All facts of a database are loaded in one query and cached for Config.TTL; the proxy calls Invalidate
// after any DDL it forwards. A failed load is an error (callers fail closed) and is retried after a few
// seconds. Safe for concurrent use; every method is safe on a nil *Functions (it reports an error).
type Functions struct {
	cfg  Config
	pool *pgxpool.Pool

	mu     sync.Mutex
	facts  *functionFacts
	loaded time.Time
	err    error
	failed time.Time
}

type functionFacts struct {
	oneArg    map[string]bool // non-allow-listed functions callable with one argument, any schema
	userFuncs map[string]bool // functions outside pg_catalog, any arity
	userOps   map[string]bool // operators outside pg_catalog
	// plain maps "schema.name" and "name" to whether the relation is a plain/partitioned table or
	// materialized view without row-level security ("name" only when every relation so named is).
	plain    map[string]bool
	implicit bool // a cast or operator class outside pg_catalog calls a function
	triggerFacts
}

// errNoFunctions is returned by a nil *Functions.
var errNoFunctions = fmt.Errorf("catalog: no function catalog for this database (the target has no admin DSN?); treat reads as having side effects")

// retryAfter is how long a failed load is remembered before the next attempt, so that a database that
// cannot be reached costs one timeout every few seconds rather than one per statement.
const retryAfter = 5 * time.Second

// NewFunctions returns the function facts of the database pool connects to.
func NewFunctions(cfg Config, pool *pgxpool.Pool) *Functions {
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	return &Functions{cfg: cfg, pool: pool}
}

var (
	functionsMu  sync.Mutex
	functionsFor = map[*Catalog]*Functions{}
)

// Functions returns the function facts of database, sharing the column catalog's pool (nil when no
// pool can be configured; its methods then report an error). One per Catalog, kept beside the Set
// rather than in it so that the column catalog's types stay as they are.
func (s *Set) Functions(database string) *Functions {
	c := s.For(database)
	if c == nil {
		return nil
	}
	functionsMu.Lock()
	defer functionsMu.Unlock()
	f, ok := functionsFor[c]
	if !ok {
		f = NewFunctions(s.cfg, c.pool)
		functionsFor[c] = f
	}
	return f
}

// Invalidate drops the cached facts: the next question reloads them. Call it after forwarding DDL
// (CREATE/ALTER/DROP of functions, views, policies, casts, …).
func (f *Functions) Invalidate() {
	if f == nil {
		return
	}
	f.mu.Lock()
	f.facts, f.err = nil, nil
	f.mu.Unlock()
}

// OneArgFunction reports whether name (as PostgreSQL stores it) is a function callable with one
// argument that is not on the classifier's allow-list: a built-in one, or any function of that name
// outside pg_catalog. In attribute notation (x).name calls it.
func (f *Functions) OneArgFunction(name string) (bool, error) {
	facts, err := f.get()
	if err != nil {
		return false, err
	}
	return facts.oneArg[name], nil
}

// UserFunction reports whether a function called name exists outside pg_catalog: an unqualified call
// of an allow-listed name may resolve to it (search_path, a better-matching argument type).
func (f *Functions) UserFunction(name string) (bool, error) {
	facts, err := f.get()
	if err != nil {
		return false, err
	}
	return facts.userFuncs[name], nil
}

// UserOperator reports whether an operator named op exists outside pg_catalog.
func (f *Functions) UserOperator(op string) (bool, error) {
	facts, err := f.get()
	if err != nil {
		return false, err
	}
	return facts.userOps[op], nil
}

// PlainRelation reports whether table ("name", "schema.name" or "db.schema.name" as the classifier
// writes it) is known to be a table, partitioned table or materialized view without row-level
// security, whose reading runs no user code. An unqualified name is plain only when every relation of
// that name in every schema is; an unknown name (created since the last load, temporary) is not.
func (f *Functions) PlainRelation(table string) (bool, error) {
	facts, err := f.get()
	if err != nil {
		return false, err
	}
	if parts := strings.Split(table, "."); len(parts) > 2 {
		table = strings.Join(parts[len(parts)-2:], ".")
	}
	return facts.plain[table], nil
}

// UserImplicitCode reports whether the database has casts or operator classes implemented outside
// pg_catalog (user types, extensions such as citext or hstore): PostgreSQL can call them without the
// statement naming them (implicit casts, ORDER BY, DISTINCT, joins), so no read is provably free of
// side effects there.
func (f *Functions) UserImplicitCode() (bool, error) {
	facts, err := f.get()
	if err != nil {
		return false, err
	}
	return facts.implicit, nil
}

func (f *Functions) get() (*functionFacts, error) {
	if f == nil {
		return nil, errNoFunctions
	}
	f.mu.Lock()
	if f.facts != nil && time.Since(f.loaded) <= f.cfg.TTL {
		facts := f.facts
		f.mu.Unlock()
		return facts, nil
	}
	if f.err != nil && time.Since(f.failed) < retryAfter {
		err := f.err
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	facts, err := f.load()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		f.err, f.failed = err, time.Now()
		return nil, err
	}
	f.facts, f.loaded, f.err = facts, time.Now(), nil
	return facts, nil
}

// factsQuery returns every fact in one round trip: kind, schema, name, flag (trigger facts: triggers.go).
const factsQuery = triggerCTE + `
SELECT 'f1', n.nspname, p.proname, false FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE p.pronargs >= 1 AND p.pronargs - p.pronargdefaults <= 1
UNION ALL
SELECT 'fu', '', p.proname, false FROM pg_catalog.pg_proc p
 WHERE p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace
UNION ALL
SELECT 'op', '', o.oprname, false FROM pg_catalog.pg_operator o
 WHERE o.oprnamespace <> 'pg_catalog'::pg_catalog.regnamespace
UNION ALL
SELECT 'rel', n.nspname, c.relname, c.relkind IN ('r', 'p', 'm') AND NOT c.relrowsecurity
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind NOT IN ('i', 'I', 't')
UNION ALL
SELECT 'implicit', '', '', EXISTS (
         SELECT 1 FROM pg_catalog.pg_cast k JOIN pg_catalog.pg_proc p ON p.oid = k.castfunc
          WHERE p.pronamespace <> 'pg_catalog'::pg_catalog.regnamespace)
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_opclass o
          WHERE o.opcnamespace <> 'pg_catalog'::pg_catalog.regnamespace)` + triggerRows

func (f *Functions) load() (*functionFacts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.Timeout)
	defer cancel()
	rows, err := f.pool.Query(ctx, factsQuery)
	if err != nil {
		return nil, fmt.Errorf("catalog: load function facts: %w; reads are treated as having side effects until it succeeds", err)
	}
	defer rows.Close()
	facts := &functionFacts{oneArg: map[string]bool{}, userFuncs: map[string]bool{}, userOps: map[string]bool{}, plain: map[string]bool{},
		triggerFacts: triggerFacts{writeCode: map[string]bool{}, deferred: map[string]bool{}}}
	implicitSeen := false
	for rows.Next() {
		var kind, schema, name string
		var flag bool
		if err := rows.Scan(&kind, &schema, &name, &flag); err != nil {
			return nil, fmt.Errorf("catalog: read function facts: %w", err)
		}
		switch kind {
		case "f1":
			if schema != "pg_catalog" || !classify.AllowListed(name) {
				facts.oneArg[name] = true
			}
		case "fu":
			facts.userFuncs[name] = true
		case "op":
			facts.userOps[name] = true
		case "rel":
			facts.plain[schema+"."+name] = flag
			if prev, seen := facts.plain[name]; !seen || prev {
				facts.plain[name] = flag
			}
		case "implicit":
			facts.implicit, implicitSeen = flag, true
		default:
			facts.add(kind, schema, name, flag)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: read function facts: %w", err)
	}
	if !implicitSeen || facts.seen != 7 {
		return nil, fmt.Errorf("catalog: function facts incomplete (no implicit-code, any-trigger, any-deferred-trigger or event-trigger row)")
	}
	return facts, nil
}
