package classify

import (
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Lineage: where every value a statement lets out comes from, and how it was derived, read from the
// parse tree alone (no catalog). docs/masking.md ("Lineage") says what this guarantees and what it
// cannot see (views, function bodies, side channels).

// Output channels: how a value leaves the statement.
const (
	// ChannelResult: returned to the client (SELECT list at any nesting that reaches the result,
	// RETURNING, COPY … TO, FETCH of a declared cursor).
	ChannelResult = "result"
	// ChannelWrite: stored into Output.Target (INSERT, UPDATE, MERGE, CREATE TABLE AS, SELECT INTO,
	// CREATE VIEW), from where it can be read back without the source's tags.
	ChannelWrite = "write"
	// ChannelSideEffect: a cast or function call evaluated outside the returned values (WHERE, JOIN,
	// GROUP BY, ORDER BY, subqueries whose values are not returned, nested inside another expression):
	// its value can leave through an error text quoting it ("invalid input syntax for type integer:
	// …") or through the function's own effect (pg_notify, set_config, a user function).
	ChannelSideEffect = "side_effect"
)

// Derivation kinds. Expression kinds are "cast", "function:<name>", "aggregate:<name>",
// "window:<name>", "operator:<op>" and the constants below; names are lower-cased as written
// (schema-qualified when written so).
const (
	// DerivPlain is a bare column reference, possibly through subquery, CTE and join aliases, which
	// PostgreSQL reports with its table of origin in RowDescription, so the gateway masks it by its tag.
	DerivPlain     = "plain"
	DerivCast      = "cast"
	DerivWholeRow  = "whole_row"      // a whole-row reference: c, c.*, inside an expression
	DerivArray     = "array"          // ARRAY[…], ARRAY(subquery)
	DerivRow       = "row"            // ROW(…), (a, b)
	DerivJSON      = "json"           // SQL/JSON constructors and JSON_TABLE
	DerivXML       = "xml"            // XMLELEMENT, XMLSERIALIZE, XMLTABLE, …
	DerivCase      = "case"           // CASE (its conditions count: they can spell a value out)
	DerivCoalesce  = "coalesce"       // COALESCE
	DerivMinMax    = "greatest_least" // GREATEST, LEAST
	DerivSubquery  = "subquery"       // a scalar, ARRAY or EXISTS/IN subquery's value
	DerivSetOp     = "set_operation"  // a column of UNION/INTERSECT/EXCEPT (or a recursive CTE): no table origin on the wire
	DerivValues    = "values"         // a VALUES list column
	DerivIndirect  = "indirection"    // (c).pan, a[1], x.field of a composite
	DerivCollate   = "collate"        // pan COLLATE "C"
	DerivFunctions = "function_scan"  // a column of a function in FROM (unnest(…), jsonb_each(…), …)
)

// Output is one value a statement lets out and where it comes from.
type Output struct {
	// Name is the output column name or alias as PostgreSQL would name it when it can be told from the
	// text ("" when not: "?column?"); for writes, the target column ("*" for all of them).
	Name string `json:"name,omitempty"`
	// Sources are the columns the value is computed from: "table.column" (table written as in
	// Statement.Tables), "column" when the table cannot be told, "table.*" for a whole row or a star of
	// a table, "*" when not even the table is known. Sorted, unique.
	Sources []string `json:"sources,omitempty"`
	// Derivation is the outermost kind of expression that produced the value (Deriv* constants, or
	// "cast", "function:<name>", "aggregate:<name>", "window:<name>", "operator:<op>").
	Derivation string `json:"derivation"`
	// Channel is how the value leaves (Channel* constants).
	Channel string `json:"channel"`
	// Target is the "table.column" (or "table.*") a write stores the value into; "" otherwise.
	Target string `json:"target,omitempty"`
}

// lineage computes the outputs of one top-level statement. Result outputs come first in column order,
// then writes in statement order, then side effects sorted; sources sorted; duplicates removed.
func lineage(n *pg.Node) []Output {
	l := &lineageWalker{seen: map[string]bool{}}
	l.statement(n, true)
	if len(l.out) == 0 {
		return nil
	}
	side := l.out[:0:0]
	var rest []Output
	for _, o := range l.out {
		if o.Channel == ChannelSideEffect {
			side = append(side, o)
		} else {
			rest = append(rest, o)
		}
	}
	slices.SortStableFunc(rest, func(a, b Output) int { return channelOrder(a.Channel) - channelOrder(b.Channel) })
	slices.SortFunc(side, func(a, b Output) int {
		if c := strings.Compare(a.Derivation, b.Derivation); c != 0 {
			return c
		}
		return strings.Compare(strings.Join(a.Sources, ","), strings.Join(b.Sources, ","))
	})
	return slices.Clip(append(rest, side...))
}

func channelOrder(c string) int {
	if c == ChannelResult {
		return 0
	}
	return 1
}

// val is the lineage of one expression: its sources and outermost derivation.
type val struct {
	src   []string
	deriv string
}

func (v val) has() bool { return len(v.src) > 0 }

// Union returns the sorted, duplicate-free union of two sorted name lists (Statement's slices), sharing
// a or b when the other is empty: treat the result as read-only, like the slices it came from.
func Union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]string, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// col is one output column of a query.
type col struct {
	name string
	v    val
}

// lrel is one FROM item as lineage sees it.
type lrel struct {
	table string  // base table id; "" for the others
	cols  []col   // subquery, CTE or VALUES outputs (known columns)
	known bool    // cols is the full list of columns
	fn    *val    // function in FROM: every column derives from its arguments
	join  []*lrel // an aliased JOIN: its two sides
	name  string  // alias (or relation name) it is visible under
}

type lscope struct {
	parent *lscope
	rels   []*lrel          // leaf relations of this level, FROM order
	named  map[string]*lrel // alias → relation
	ctes   map[string]*lrel
}

type lineageWalker struct {
	sc   *lscope
	out  []Output
	seen map[string]bool
	// top is the expression whose value is a result output of the top-level statement: its own cast or
	// call is recorded as the result, not again as a side effect.
	top any
}

func (l *lineageWalker) push() *lscope {
	l.sc = &lscope{parent: l.sc, named: map[string]*lrel{}, ctes: map[string]*lrel{}}
	return l.sc
}

func (l *lineageWalker) pop() { l.sc = l.sc.parent }

func (l *lineageWalker) emit(o Output) {
	key := o.Channel + "\x00" + o.Name + "\x00" + o.Derivation + "\x00" + o.Target + "\x00" + strings.Join(o.Sources, ",")
	if o.Channel != ChannelResult {
		if l.seen[key] {
			return
		}
		l.seen[key] = true
	}
	o.Sources = slices.Clip(o.Sources)
	l.out = append(l.out, o)
}

// statement records the outputs of a statement; result says whether its returned values reach the
// client (false for EXPLAIN ANALYZE: it runs the statement but returns only the plan).
func (l *lineageWalker) statement(n *pg.Node, result bool) {
	switch x := innerIface(n).(type) {
	case *pg.SelectStmt:
		cols := l.query(x, result && x.IntoClause == nil)
		if x.IntoClause != nil {
			l.writeCols(x.IntoClause.Rel, x.IntoClause.ColNames, cols)
			return
		}
		if result {
			l.results(cols)
		}
	case *pg.InsertStmt, *pg.UpdateStmt, *pg.DeleteStmt, *pg.MergeStmt:
		cols := l.dml(inner(n), result)
		if result {
			l.results(cols)
		}
	case *pg.CopyStmt:
		if x.IsFrom {
			if x.Relation != nil && x.WhereClause != nil {
				l.push()
				l.addRel(l.sc, &lrel{table: tableID(x.Relation)}, x.Relation.Relname, x.Relation)
				l.side(x.WhereClause)
				l.pop()
			}
			return
		}
		if x.Query != nil {
			l.statement(x.Query, result)
			return
		}
		if x.Relation != nil && result {
			id := tableID(x.Relation)
			if len(x.Attlist) == 0 {
				l.emit(Output{Name: "*", Sources: []string{id + ".*"}, Derivation: DerivPlain, Channel: ChannelResult})
			}
			for _, a := range x.Attlist {
				if s := str(a); s != "" {
					l.emit(Output{Name: s, Sources: []string{id + "." + s}, Derivation: DerivPlain, Channel: ChannelResult})
				}
			}
		}
	case *pg.ExplainStmt:
		for _, o := range x.Options {
			if d, ok := innerIface(o).(*pg.DefElem); ok && d.Defname == "analyze" && (d.Arg == nil || defTrue(d.Arg)) {
				// EXPLAIN ANALYZE runs the statement: its casts and calls run (and can fail quoting a
				// value, or notify); its rows are not returned.
				l.statement(x.Query, false)
				return
			}
		}
	case *pg.PrepareStmt:
		l.statement(x.Query, result)
	case *pg.DeclareCursorStmt:
		// FETCH returns the cursor's rows later: the derivation is known here.
		l.statement(x.Query, result)
	case *pg.CreateTableAsStmt:
		if x.Into == nil {
			return
		}
		if q, ok := innerIface(x.Query).(*pg.SelectStmt); ok {
			l.writeCols(x.Into.Rel, x.Into.ColNames, l.query(q, false))
		}
	case *pg.ViewStmt:
		if q, ok := innerIface(x.Query).(*pg.SelectStmt); ok {
			l.writeCols(x.View, x.Aliases, l.query(q, false))
		}
	case *pg.CallStmt:
		if x.Funccall != nil {
			l.expr(&pg.Node{Node: &pg.Node_FuncCall{FuncCall: x.Funccall}})
		}
	}
}

// results records cols as result outputs.
func (l *lineageWalker) results(cols []col) {
	for _, c := range cols {
		l.emit(Output{Name: c.name, Sources: c.v.src, Derivation: c.v.deriv, Channel: ChannelResult})
	}
}

// writeCols records cols as writes into rel (named columns, else the query's own names).
func (l *lineageWalker) writeCols(rv *pg.RangeVar, names []*pg.Node, cols []col) {
	if rv == nil {
		return
	}
	id := tableID(rv)
	for i, c := range cols {
		name := c.name
		if i < len(names) {
			name = str(names[i])
		}
		if name == "" || name == "*" {
			name = "*"
		}
		l.write(id, name, c.v)
	}
}

func (l *lineageWalker) write(table, column string, v val) {
	if !v.has() {
		return
	}
	l.emit(Output{Name: column, Sources: v.src, Derivation: v.deriv, Channel: ChannelWrite, Target: table + "." + column})
}

// with evaluates a WITH clause into scope sc.
func (l *lineageWalker) with(wc *pg.WithClause, sc *lscope) {
	if wc == nil {
		return
	}
	for _, n := range wc.Ctes {
		cte, ok := innerIface(n).(*pg.CommonTableExpr)
		if !ok {
			continue
		}
		eval := func() []col {
			var cols []col
			switch q := innerIface(cte.Ctequery).(type) {
			case *pg.SelectStmt:
				cols = l.query(q, false)
			case *pg.InsertStmt, *pg.UpdateStmt, *pg.DeleteStmt, *pg.MergeStmt:
				cols = l.dml(inner(cte.Ctequery), false)
			}
			for i, a := range cte.Aliascolnames {
				if i < len(cols) {
					cols[i].name = str(a)
				}
			}
			return cols
		}
		if wc.Recursive {
			// A recursive CTE's rows come from its own earlier rows: evaluate once to learn the columns,
			// then again with them; its columns carry no table origin on the wire.
			sc.ctes[cte.Ctename] = &lrel{known: true}
			first := eval()
			sc.ctes[cte.Ctename] = &lrel{cols: first, known: true}
			cols := eval()
			for i := range cols {
				if cols[i].v.has() && cols[i].v.deriv == DerivPlain {
					cols[i].v.deriv = DerivSetOp
				}
			}
			sc.ctes[cte.Ctename] = &lrel{cols: cols, known: true}
			continue
		}
		sc.ctes[cte.Ctename] = &lrel{cols: eval(), known: true}
	}
}

func (l *lineageWalker) cte(name string) *lrel {
	for s := l.sc; s != nil; s = s.parent {
		if r, ok := s.ctes[name]; ok {
			return r
		}
	}
	return nil
}

// query returns the output columns of a SELECT (set operation, VALUES) and records its side effects.
// top says its target expressions are result outputs of the top-level statement.
func (l *lineageWalker) query(s *pg.SelectStmt, top bool) []col {
	if s == nil {
		return nil
	}
	sc := l.push()
	defer l.pop()
	l.with(s.WithClause, sc)
	if s.Op != pg.SetOperation_SETOP_NONE && s.Op != pg.SetOperation_SET_OPERATION_UNDEFINED {
		left := l.query(s.Larg, top)
		right := l.query(s.Rarg, top)
		out := make([]col, max(len(left), len(right)))
		for i := range out {
			var arms []val
			if i < len(left) {
				out[i].name = left[i].name
				arms = append(arms, left[i].v)
			}
			if i < len(right) {
				arms = append(arms, right[i].v)
			}
			out[i].v = combineArms(arms, DerivSetOp)
		}
		l.sideAll(s.SortClause)
		l.side(s.LimitCount)
		l.side(s.LimitOffset)
		return out
	}
	if len(s.ValuesLists) > 0 {
		var out []col
		for _, row := range s.ValuesLists {
			items := row.GetList().GetItems()
			for i, e := range items {
				v := l.expr(e)
				if i >= len(out) {
					out = append(out, col{name: "column" + strconv.Itoa(i+1)})
				}
				out[i].v = combineArms([]val{out[i].v, v}, DerivValues)
			}
		}
		for i := range out {
			if out[i].v.has() {
				out[i].v.deriv = DerivValues
			}
		}
		return out
	}
	for _, f := range s.FromClause {
		l.from(sc, f)
	}
	var out []col
	for _, t := range s.TargetList {
		rt, ok := innerIface(t).(*pg.ResTarget)
		if !ok {
			continue
		}
		if cr, ok := innerIface(rt.Val).(*pg.ColumnRef); ok && isStar(cr) {
			out = append(out, l.star(cr)...)
			continue
		}
		prev := l.top
		if top {
			l.top = innerIface(rt.Val)
		}
		v := l.expr(rt.Val)
		l.top = prev
		name := rt.Name
		if name == "" {
			name = exprName(rt.Val)
		}
		out = append(out, col{name: name, v: v})
	}
	l.side(s.WhereClause)
	l.sideAll(s.GroupClause)
	l.side(s.HavingClause)
	l.sideAll(s.SortClause)
	l.sideAll(s.WindowClause)
	l.sideAll(s.DistinctClause)
	l.side(s.LimitCount)
	l.side(s.LimitOffset)
	return out
}

// combineArms merges the values of one column from several rows or set-operation arms: a derivation
// of any arm wins; plain references from several arms become setop (no table origin on the wire).
func combineArms(arms []val, setop string) val {
	var out val
	for _, a := range arms {
		out.src = Union(out.src, a.src)
	}
	if !out.has() {
		return out
	}
	for _, a := range arms {
		if a.has() && a.deriv != DerivPlain {
			out.deriv = a.deriv
			return out
		}
	}
	out.deriv = setop
	return out
}

// exprName is the output name PostgreSQL gives an unaliased expression when it is simple to tell.
func exprName(n *pg.Node) string {
	switch x := innerIface(n).(type) {
	case *pg.ColumnRef:
		if len(x.Fields) > 0 {
			return str(x.Fields[len(x.Fields)-1])
		}
	case *pg.FuncCall:
		if len(x.Funcname) > 0 {
			return str(x.Funcname[len(x.Funcname)-1])
		}
	case *pg.TypeCast:
		if name := exprName(x.Arg); name != "" {
			return name
		}
		if x.TypeName != nil && len(x.TypeName.Names) > 0 {
			return str(x.TypeName.Names[len(x.TypeName.Names)-1])
		}
	}
	return ""
}

func isStar(c *pg.ColumnRef) bool {
	if len(c.Fields) == 0 {
		return false
	}
	_, ok := innerIface(c.Fields[len(c.Fields)-1]).(*pg.A_Star)
	return ok
}

// addRel makes r visible in sc under name (and schema.name for a qualified relation).
func (l *lineageWalker) addRel(sc *lscope, r *lrel, name string, rv *pg.RangeVar) {
	r.name = name
	sc.rels = append(sc.rels, r)
	if name != "" {
		sc.named[name] = r
	}
	if rv != nil && rv.Schemaname != "" && (rv.Alias == nil || rv.Alias.Aliasname == "") {
		sc.named[rv.Schemaname+"."+rv.Relname] = r
	}
}

// from registers one FROM item in sc, evaluating subqueries and functions (which see the items before
// them, as LATERAL ones do).
func (l *lineageWalker) from(sc *lscope, n *pg.Node) *lrel {
	switch x := innerIface(n).(type) {
	case *pg.RangeVar:
		name := x.Relname
		if x.Alias != nil && x.Alias.Aliasname != "" {
			name = x.Alias.Aliasname
		}
		r := &lrel{table: tableID(x)}
		if x.Schemaname == "" && x.Catalogname == "" {
			if c := l.cte(x.Relname); c != nil {
				r = &lrel{cols: slices.Clone(c.cols), known: true}
				renameCols(r.cols, x.Alias)
			}
		}
		l.addRel(sc, r, name, x)
		return r
	case *pg.JoinExpr:
		left := l.from(sc, x.Larg)
		right := l.from(sc, x.Rarg)
		l.side(x.Quals)
		if x.Alias != nil && x.Alias.Aliasname != "" {
			j := &lrel{join: []*lrel{left, right}, name: x.Alias.Aliasname}
			sc.named[j.name] = j
			return j
		}
		return &lrel{join: []*lrel{left, right}}
	case *pg.RangeSubselect:
		r := &lrel{known: true}
		if q, ok := innerIface(x.Subquery).(*pg.SelectStmt); ok {
			r.cols = l.query(q, false)
		}
		renameCols(r.cols, x.Alias)
		name := ""
		if x.Alias != nil {
			name = x.Alias.Aliasname
		}
		l.addRel(sc, r, name, nil)
		return r
	case *pg.RangeFunction:
		var v val
		name := ""
		for _, f := range x.Functions {
			items := f.GetList().GetItems()
			if len(items) == 0 {
				continue
			}
			fv := l.expr(items[0])
			v.src = Union(v.src, fv.src)
			if v.deriv == "" {
				v.deriv = fv.deriv
			}
			if name == "" {
				name = exprName(items[0])
			}
		}
		if v.has() && v.deriv == "" {
			v.deriv = DerivFunctions
		}
		r := &lrel{fn: &v}
		if x.Alias != nil && x.Alias.Aliasname != "" {
			name = x.Alias.Aliasname
		}
		l.addRel(sc, r, name, nil)
		return r
	case *pg.RangeTableSample:
		return l.from(sc, x.Relation)
	case *pg.RangeTableFunc:
		v := l.expr(x.Docexpr)
		v.src = Union(v.src, l.expr(x.Rowexpr).src)
		if v.has() {
			v.deriv = DerivXML
		}
		r := &lrel{fn: &v}
		name := ""
		if x.Alias != nil {
			name = x.Alias.Aliasname
		}
		l.addRel(sc, r, name, nil)
		return r
	case *pg.JsonTable:
		v := l.exprMsg(x.ContextItem.ProtoReflect())
		for _, p := range x.Passing {
			v.src = Union(v.src, l.expr(p).src)
		}
		if v.has() {
			v.deriv = DerivJSON
		}
		r := &lrel{fn: &v}
		name := ""
		if x.Alias != nil {
			name = x.Alias.Aliasname
		}
		l.addRel(sc, r, name, nil)
		return r
	}
	r := &lrel{known: true}
	l.addRel(sc, r, "", nil)
	return r
}

func renameCols(cols []col, a *pg.Alias) {
	if a == nil {
		return
	}
	for i, c := range a.Colnames {
		if i < len(cols) {
			cols[i].name = str(c)
		}
	}
}

// dml returns the RETURNING columns of an INSERT/UPDATE/DELETE/MERGE and records its writes and side
// effects. top says its RETURNING values are result outputs of the top-level statement.
func (l *lineageWalker) dml(m protoreflect.Message, top bool) []col {
	sc := l.push()
	defer l.pop()
	var returning []*pg.Node
	switch x := m.Interface().(type) {
	case *pg.InsertStmt:
		l.with(x.WithClause, sc)
		id := tableID(x.Relation)
		var cols []col
		if q, ok := innerIface(x.SelectStmt).(*pg.SelectStmt); ok {
			cols = l.query(q, false)
		}
		for i, c := range cols {
			name := "*"
			if i < len(x.Cols) {
				if rt, ok := innerIface(x.Cols[i]).(*pg.ResTarget); ok {
					name = rt.Name
				}
			}
			l.write(id, name, c.v)
		}
		r := &lrel{table: id}
		l.addRel(sc, r, relName(x.Relation), x.Relation)
		sc.named["excluded"] = &lrel{table: id}
		if oc := x.OnConflictClause; oc != nil {
			l.assignments(id, oc.TargetList)
			l.side(oc.WhereClause)
		}
		returning = x.ReturningList
	case *pg.UpdateStmt:
		l.with(x.WithClause, sc)
		id := tableID(x.Relation)
		l.addRel(sc, &lrel{table: id}, relName(x.Relation), x.Relation)
		for _, f := range x.FromClause {
			l.from(sc, f)
		}
		l.assignments(id, x.TargetList)
		l.side(x.WhereClause)
		returning = x.ReturningList
	case *pg.DeleteStmt:
		l.with(x.WithClause, sc)
		id := tableID(x.Relation)
		l.addRel(sc, &lrel{table: id}, relName(x.Relation), x.Relation)
		for _, f := range x.UsingClause {
			l.from(sc, f)
		}
		l.side(x.WhereClause)
		returning = x.ReturningList
	case *pg.MergeStmt:
		l.with(x.WithClause, sc)
		id := tableID(x.Relation)
		l.addRel(sc, &lrel{table: id}, relName(x.Relation), x.Relation)
		l.from(sc, x.SourceRelation)
		l.side(x.JoinCondition)
		for _, n := range x.MergeWhenClauses {
			mw, ok := innerIface(n).(*pg.MergeWhenClause)
			if !ok {
				continue
			}
			l.side(mw.Condition)
			if mw.CommandType == pg.CmdType_CMD_INSERT {
				for i, v := range mw.Values {
					name := "*"
					if i < len(mw.TargetList) {
						if rt, ok := innerIface(mw.TargetList[i]).(*pg.ResTarget); ok {
							name = rt.Name
						}
					}
					l.write(id, name, l.expr(v))
				}
				continue
			}
			l.assignments(id, mw.TargetList)
		}
		returning = x.ReturningList
	}
	var out []col
	for _, t := range returning {
		rt, ok := innerIface(t).(*pg.ResTarget)
		if !ok {
			continue
		}
		if cr, ok := innerIface(rt.Val).(*pg.ColumnRef); ok && isStar(cr) {
			out = append(out, l.star(cr)...)
			continue
		}
		prev := l.top
		if top {
			l.top = innerIface(rt.Val)
		}
		v := l.expr(rt.Val)
		l.top = prev
		name := rt.Name
		if name == "" {
			name = exprName(rt.Val)
		}
		out = append(out, col{name: name, v: v})
	}
	return out
}

func relName(rv *pg.RangeVar) string {
	if rv == nil {
		return ""
	}
	if rv.Alias != nil && rv.Alias.Aliasname != "" {
		return rv.Alias.Aliasname
	}
	return rv.Relname
}

// assignments records SET col = expr (UPDATE, ON CONFLICT DO UPDATE, MERGE … UPDATE) as writes.
func (l *lineageWalker) assignments(table string, targets []*pg.Node) {
	for _, t := range targets {
		rt, ok := innerIface(t).(*pg.ResTarget)
		if !ok || rt.Val == nil {
			continue
		}
		if ma, ok := innerIface(rt.Val).(*pg.MultiAssignRef); ok {
			// SET (a, b) = (SELECT …): every column may hold any of the source's values.
			l.write(table, rt.Name, l.expr(ma.Source))
			continue
		}
		l.write(table, rt.Name, l.expr(rt.Val))
	}
}

// star expands a "*" or "c.*" of a target list.
func (l *lineageWalker) star(c *pg.ColumnRef) []col {
	var rels []*lrel
	if len(c.Fields) == 1 {
		for s := l.sc; s != nil; s = s.parent {
			if len(s.rels) > 0 {
				rels = s.rels
				break
			}
		}
		if rels == nil {
			return nil // SELECT * with no FROM: an error in PostgreSQL
		}
	} else {
		qual := qualifier(c)
		r := l.named(qual)
		if r == nil {
			return []col{{name: "*", v: val{src: []string{qual + ".*"}, deriv: DerivPlain}}}
		}
		rels = []*lrel{r}
	}
	var out []col
	for _, r := range rels {
		out = append(out, expandRel(r)...)
	}
	return out
}

func expandRel(r *lrel) []col {
	switch {
	case r.table != "":
		return []col{{name: "*", v: val{src: []string{r.table + ".*"}, deriv: DerivPlain}}}
	case r.fn != nil:
		return []col{{name: r.name, v: *r.fn}}
	case r.join != nil:
		var out []col
		for _, j := range r.join {
			out = append(out, expandRel(j)...)
		}
		return out
	}
	return slices.Clone(r.cols)
}

func qualifier(c *pg.ColumnRef) string {
	parts := make([]string, 0, len(c.Fields))
	for _, f := range c.Fields[:len(c.Fields)-1] {
		parts = append(parts, str(f))
	}
	return strings.Join(parts, ".")
}

func (l *lineageWalker) named(qual string) *lrel {
	for s := l.sc; s != nil; s = s.parent {
		if r, ok := s.named[qual]; ok {
			return r
		}
	}
	return nil
}

// wholeRow is the value of a whole-row reference to r.
func wholeRow(r *lrel) val {
	if r.fn != nil {
		return *r.fn // a function's alias also names its (single) column
	}
	v := val{deriv: DerivWholeRow}
	for _, c := range expandRel(r) {
		v.src = Union(v.src, c.v.src)
	}
	return v
}

// column resolves a column reference to its lineage.
func (l *lineageWalker) column(c *pg.ColumnRef) val {
	if len(c.Fields) == 0 {
		return val{}
	}
	if isStar(c) {
		// c.* or * inside an expression (row_to_json(c.*), c.*::text): the whole row.
		var v val
		for _, x := range l.star(c) {
			v.src = Union(v.src, x.v.src)
		}
		v.deriv = DerivWholeRow
		return v
	}
	name := str(c.Fields[len(c.Fields)-1])
	if len(c.Fields) > 1 {
		qual := qualifier(c)
		r := l.named(qual)
		if r == nil {
			// (c).field forms reach here as A_Indirection; anything else is not in scope (PostgreSQL
			// refuses it): keep it as written.
			return val{src: []string{qual + "." + name}, deriv: DerivPlain}
		}
		if v, ok := inRel(r, name); ok {
			return v
		}
		return val{}
	}
	// Unqualified: the innermost level that can hold the column decides.
	for s := l.sc; s != nil; s = s.parent {
		if len(s.rels) == 0 {
			continue
		}
		var found []val
		tables := 0
		for _, r := range s.rels {
			if r.table != "" {
				tables++
				continue
			}
			if v, ok := inRel(r, name); ok {
				found = append(found, v)
			}
		}
		if tables == 1 {
			for _, r := range s.rels {
				if r.table != "" {
					found = append(found, val{src: []string{r.table + "." + name}, deriv: DerivPlain})
				}
			}
		} else if tables > 1 {
			found = append(found, val{src: []string{name}, deriv: DerivPlain})
		}
		// A bare relation name is a whole-row reference (row_to_json(c)) unless a column has that name,
		// which we cannot always know: count both.
		if r, ok := s.named[name]; ok {
			found = append(found, wholeRow(r))
		}
		if len(found) == 0 {
			continue
		}
		v := found[0]
		for _, f := range found[1:] {
			v.src = Union(v.src, f.src)
			if v.deriv == DerivPlain || !v.has() {
				v.deriv = f.deriv
			}
		}
		return v
	}
	if r := l.named(name); r != nil {
		return wholeRow(r)
	}
	return val{src: []string{name}, deriv: DerivPlain}
}

// inRel finds column name in relation r.
func inRel(r *lrel, name string) (val, bool) {
	switch {
	case r.table != "":
		return val{src: []string{r.table + "." + name}, deriv: DerivPlain}, true
	case r.fn != nil:
		return *r.fn, true
	case r.join != nil:
		var v val
		ok := false
		for _, j := range r.join {
			if x, found := inRel(j, name); found {
				if !ok {
					v = x
				} else {
					v.src = Union(v.src, x.src)
				}
				ok = true
			}
		}
		return v, ok
	}
	for _, c := range r.cols {
		if c.name == name {
			return c.v, true
		}
	}
	return val{}, false
}

// side evaluates an expression whose value is not returned, for its side effects.
func (l *lineageWalker) side(n *pg.Node) {
	if n == nil {
		return
	}
	prev := l.top
	l.top = nil
	l.expr(n)
	l.top = prev
}

func (l *lineageWalker) sideAll(ns []*pg.Node) {
	for _, n := range ns {
		l.side(n)
	}
}

// sideEffect records a cast or call over source columns that is not itself a result output.
func (l *lineageWalker) sideEffect(node any, v val) {
	if !v.has() || node == l.top {
		return
	}
	l.emit(Output{Sources: v.src, Derivation: v.deriv, Channel: ChannelSideEffect})
}

func (l *lineageWalker) expr(n *pg.Node) val { return l.exprMsg(inner(n)) }

// exprMsg computes the lineage of an expression.
func (l *lineageWalker) exprMsg(m protoreflect.Message) val {
	if m == nil || !m.IsValid() {
		return val{}
	}
	switch x := m.Interface().(type) {
	case *pg.Node:
		return l.expr(x)
	case *pg.ColumnRef:
		return l.column(x)
	case *pg.A_Const, *pg.ParamRef, *pg.SQLValueFunction, *pg.GroupingFunc, *pg.SetToDefault, *pg.A_Star:
		return val{}
	case *pg.TypeCast:
		v := l.expr(x.Arg)
		v.deriv = DerivCast
		if !castToText(x.TypeName) {
			// A failing cast quotes its input in the error ("invalid input syntax for type …").
			l.sideEffect(x, v)
		}
		return v
	case *pg.FuncCall:
		return l.funcCall(x)
	case *pg.A_Expr:
		v := l.children(m)
		v.deriv = "operator:" + operatorName(x)
		return v
	case *pg.BoolExpr:
		v := l.children(m)
		v.deriv = "operator:" + strings.ToLower(strings.TrimSuffix(x.Boolop.String(), "_EXPR"))
		return v
	case *pg.NullTest, *pg.BooleanTest:
		v := l.children(m)
		v.deriv = "operator:is"
		return v
	case *pg.CaseExpr:
		return l.kind(m, DerivCase)
	case *pg.CoalesceExpr:
		return l.kind(m, DerivCoalesce)
	case *pg.MinMaxExpr:
		return l.kind(m, DerivMinMax)
	case *pg.A_ArrayExpr:
		return l.kind(m, DerivArray)
	case *pg.RowExpr:
		return l.kind(m, DerivRow)
	case *pg.A_Indirection:
		return l.kind(m, DerivIndirect)
	case *pg.CollateClause:
		return l.kind(m, DerivCollate)
	case *pg.XmlExpr, *pg.XmlSerialize:
		v := l.kind(m, DerivXML)
		l.sideEffect(x, v)
		return v
	case *pg.JsonObjectConstructor, *pg.JsonArrayConstructor, *pg.JsonArrayQueryConstructor,
		*pg.JsonObjectAgg, *pg.JsonArrayAgg, *pg.JsonParseExpr, *pg.JsonScalarExpr, *pg.JsonSerializeExpr,
		*pg.JsonFuncExpr, *pg.JsonIsPredicate:
		v := l.kind(m, DerivJSON)
		l.sideEffect(x, v)
		return v
	case *pg.SubLink:
		var v val
		if q, ok := innerIface(x.Subselect).(*pg.SelectStmt); ok {
			prev := l.top
			l.top = nil
			for _, c := range l.query(q, false) {
				v.src = Union(v.src, c.v.src)
			}
			l.top = prev
		}
		v.src = Union(v.src, l.expr(x.Testexpr).src)
		v.deriv = DerivSubquery
		if x.SubLinkType == pg.SubLinkType_ARRAY_SUBLINK {
			v.deriv = DerivArray
		}
		return v
	case *pg.SelectStmt:
		var v val
		for _, c := range l.query(x, false) {
			v.src = Union(v.src, c.v.src)
		}
		v.deriv = DerivSubquery
		return v
	}
	return l.kind(m, "expression:"+strings.ToLower(string(m.Descriptor().Name())))
}

// kind unions the sources of m's sub-expressions under derivation d.
func (l *lineageWalker) kind(m protoreflect.Message, d string) val {
	v := l.children(m)
	v.deriv = d
	return v
}

// children unions the sources of every sub-expression of m.
func (l *lineageWalker) children(m protoreflect.Message) val {
	var v val
	m.Range(func(fd protoreflect.FieldDescriptor, fv protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		if fd.IsList() {
			list := fv.List()
			for i := 0; i < list.Len(); i++ {
				v.src = Union(v.src, l.exprMsg(list.Get(i).Message()).src)
			}
			return true
		}
		v.src = Union(v.src, l.exprMsg(fv.Message()).src)
		return true
	})
	return v
}

func operatorName(x *pg.A_Expr) string {
	switch x.Kind {
	case pg.A_Expr_Kind_AEXPR_OP, pg.A_Expr_Kind_AEXPR_OP_ANY, pg.A_Expr_Kind_AEXPR_OP_ALL:
		return strings.ToLower(joinNames(x.Name))
	case pg.A_Expr_Kind_AEXPR_NULLIF:
		return "nullif"
	case pg.A_Expr_Kind_AEXPR_IN:
		return "in"
	case pg.A_Expr_Kind_AEXPR_DISTINCT, pg.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		return "distinct"
	case pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE, pg.A_Expr_Kind_AEXPR_SIMILAR:
		return "like"
	}
	return "between"
}

// textTypes never fail as cast targets (every type has a text output), so a cast to them cannot
// quote a value in an error.
var textTypes = map[string]bool{"text": true, "varchar": true, "bpchar": true, "char": true, "name": true}

func castToText(t *pg.TypeName) bool {
	if t == nil || len(t.Names) == 0 || len(t.ArrayBounds) > 0 {
		return false
	}
	return textTypes[strings.ToLower(str(t.Names[len(t.Names)-1]))]
}

// aggregates are the built-in aggregate functions, told apart from ordinary functions by name (the
// parse tree does not say, short of DISTINCT/ORDER BY/FILTER/WITHIN GROUP).
var aggregates = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true, "string_agg": true, "array_agg": true,
	"json_agg": true, "jsonb_agg": true, "json_object_agg": true, "jsonb_object_agg": true, "xmlagg": true,
	"bool_and": true, "bool_or": true, "every": true, "bit_and": true, "bit_or": true, "bit_xor": true,
	"stddev": true, "stddev_pop": true, "stddev_samp": true, "variance": true, "var_pop": true, "var_samp": true,
	"percentile_cont": true, "percentile_disc": true, "mode": true, "range_agg": true, "range_intersect_agg": true,
	"json_agg_strict": true, "jsonb_agg_strict": true, "json_object_agg_strict": true, "jsonb_object_agg_strict": true,
	"json_object_agg_unique": true, "jsonb_object_agg_unique": true, "any_value": true, "corr": true,
	"covar_pop": true, "covar_samp": true, "regr_avgx": true, "regr_avgy": true, "regr_count": true,
	"regr_intercept": true, "regr_r2": true, "regr_slope": true, "regr_sxx": true, "regr_sxy": true, "regr_syy": true,
}

// quiet are aggregates that only compare or count their argument: they neither fail on a value nor
// pass it anywhere but their result.
var quiet = map[string]bool{"count": true, "min": true, "max": true, "bool_and": true, "bool_or": true, "every": true}

func (l *lineageWalker) funcCall(f *pg.FuncCall) val {
	name := strings.ToLower(joinNames(f.Funcname))
	base := name
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		base = base[i+1:]
	}
	if strings.HasPrefix(name, "pg_catalog.") {
		name = base
	}
	// FILTER, ORDER BY inside the call and the window only select and order rows: side effects only.
	l.side(f.AggFilter)
	l.sideAll(f.AggOrder)
	if f.Over != nil {
		l.sideAll(f.Over.PartitionClause)
		l.sideAll(f.Over.OrderClause)
	}
	var v val
	for _, a := range f.Args {
		v.src = Union(v.src, l.expr(a).src)
	}
	switch {
	case f.AggStar:
		return val{deriv: "aggregate:" + name}
	case base == "count" && f.Over == nil:
		// A count says how many rows, not what they hold.
		return val{deriv: "aggregate:" + name}
	case f.Over != nil:
		v.deriv = "window:" + name
	case aggregates[base] || f.AggDistinct || f.AggWithinGroup || len(f.AggOrder) > 0 || f.AggFilter != nil:
		v.deriv = "aggregate:" + name
	default:
		v.deriv = "function:" + name
	}
	if !quiet[base] {
		l.sideEffect(f, v)
	}
	return v
}

// Derived reports how values computed from cardholder data leave statement s other than as a plain
// reference (which the gateway masks by its tag) or through an allow-listed masking function: the
// sorted, unique derivation kinds, prefixed "side_effect:" for values that leave through errors or
// function effects and "write:" for values stored into columns that are not tagged. Empty: nothing
// derived leaves.
//
// tagged(table, column) says whether a column is cardholder data; tagged(table, "*") whether a table
// holds any. A source whose table is not known is tagged when the column is tagged in any table of
// s.Tables (or by name alone, tagged("", column)). masking(name) says whether function name (as in
// "function:<name>") is an allow-listed masking function; nil allows none.
func (s Statement) Derived(tagged func(table, column string) bool, masking func(name string) bool) []string {
	derived, _ := s.TaggedLineage(tagged, masking)
	return derived
}

// TaggedResults names the result columns (in order; "?column?" when PostgreSQL's name cannot be told)
// whose values come from a tagged column by any derivation, plain references included: the columns of
// the result that hold cardholder data, for the audit record.
func (s Statement) TaggedResults(tagged func(table, column string) bool) []string {
	_, results := s.TaggedLineage(tagged, nil)
	return results
}

// TaggedLineage is Derived and TaggedResults from one walk of s.Lineage: each output's sources are
// checked against tagged once, for both answers (the gateway needs both for every statement).
func (s Statement) TaggedLineage(tagged func(table, column string) bool, masking func(name string) bool) (derived, results []string) {
	for _, o := range s.Lineage {
		if !s.sourcesTagged(o.Sources, tagged) {
			continue
		}
		if o.Channel == ChannelResult {
			name := o.Name
			if name == "" {
				name = "?column?"
			}
			results = append(results, name)
		}
		d := o.Derivation
		if fn, ok := strings.CutPrefix(d, "function:"); ok && masking != nil && masking(fn) {
			continue
		}
		switch o.Channel {
		case ChannelWrite:
			table, column := splitColumn(o.Target)
			if tagged(table, column) {
				continue // stays in the cardholder data environment, masked on the way out
			}
			derived = append(derived, "write:"+d)
		case ChannelSideEffect:
			derived = append(derived, "side_effect:"+d)
		default:
			if d == DerivPlain {
				continue
			}
			derived = append(derived, d)
		}
	}
	slices.Sort(derived)
	return slices.Clip(slices.Compact(derived)), results
}

func splitColumn(s string) (table, column string) {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return "", s
}

func (s Statement) sourcesTagged(src []string, tagged func(table, column string) bool) bool {
	for _, x := range src {
		table, column := splitColumn(x)
		if table != "" {
			if tagged(table, column) {
				return true
			}
			continue
		}
		if column != "*" && tagged("", column) {
			return true
		}
		for _, t := range s.Tables {
			if tagged(t, column) {
				return true
			}
		}
	}
	return false
}
