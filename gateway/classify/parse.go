package classify

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Classify parses sql and returns one Statement per statement in it, in order. A string the parser
// refuses gives exactly one Statement of KindUnparseable with the tag "unparseable" and the parser's
// message in Error (which may quote part of the input: mask it like SQL text before storing it).
// A string holding only whitespace, semicolons or comments gives none.
func Classify(sql string) []Statement {
	r := classify(sql)
	return r.stmts
}

// result is a classification plus what the cache needs to know about it.
type result struct {
	stmts []Statement
	// bounds are [start, end) offsets of each statement's Text in the classified string; raw are the
	// parser's statement bounds before whitespace was trimmed.
	bounds, raw [][2]int
	// tree is the parse tree (nil for unparseable strings): the cache reads its constants' locations.
	tree *pg.ParseResult
	// literalSensitive is set when the classification read a literal's value, so it must not be shared
	// between texts that differ only in literals.
	literalSensitive bool
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// trim narrows [start, end) of sql to exclude surrounding whitespace (comments stay: they are part of
// what the client sent).
func trim(sql string, start, end int) (int, int) {
	for start < end && isSpace(sql[start]) {
		start++
	}
	for end > start && isSpace(sql[end-1]) {
		end--
	}
	return start, end
}

func unparseable(sql, msg string) result {
	start, end := trim(sql, 0, len(sql))
	return result{
		stmts: []Statement{{
			Kind: KindUnparseable,
			// There is no parse tree to fingerprint: hash the exact text (the cache keeps unparseable
			// strings under their exact text too).
			Fingerprint: fmt.Sprintf("%016x", pg.HashXXH3_64([]byte(sql), 0)),
			Text:        sql[start:end],
			Tags:        []string{TagUnparseable},
			Error:       msg,
		}},
		bounds:           [][2]int{{start, end}},
		raw:              [][2]int{{0, len(sql)}},
		literalSensitive: true, // the error message quotes the input
	}
}

func classify(sql string) (res result) {
	if strings.IndexByte(sql, 0) >= 0 {
		// PostgreSQL query strings are C strings; the C parser would silently stop at the NUL.
		return unparseable(sql, "query string contains a NUL byte")
	}
	tree, err := pg.Parse(sql)
	if err != nil {
		return unparseable(sql, err.Error())
	}
	defer func() {
		// The walker indexes into parser output; a malformed tree must not take the gateway down.
		if r := recover(); r != nil {
			res = unparseable(sql, fmt.Sprintf("classifier failed: %v", r))
		}
	}()
	res.tree = tree
	multi := len(tree.Stmts) > 1
	for _, raw := range tree.Stmts {
		start := int(raw.StmtLocation)
		end := len(sql)
		if raw.StmtLen > 0 {
			end = start + int(raw.StmtLen)
		}
		if start < 0 || start > len(sql) || end > len(sql) || end < start {
			return unparseable(sql, "parser returned statement bounds outside the string")
		}
		rawStart, rawEnd := start, end
		start, end = trim(sql, start, end)
		text := sql[start:end]
		w := newWalker()
		w.statement(raw.Stmt)
		st := w.finish(text, multi)
		st.Lineage = lineage(raw.Stmt)
		if len(tree.Stmts) == 1 {
			st.Fingerprint, err = pg.Fingerprint(sql)
		} else {
			st.Fingerprint, err = pg.Fingerprint(text)
		}
		if err != nil {
			return unparseable(sql, err.Error())
		}
		res.stmts = append(res.stmts, st)
		res.bounds = append(res.bounds, [2]int{start, end})
		res.raw = append(res.raw, [2]int{rawStart, rawEnd})
		res.literalSensitive = res.literalSensitive || w.literalSensitive
	}
	return res
}

// scope is one level of name visibility: the relations of a FROM clause (or a DML target) and the CTE
// names of a WITH clause.
type scope struct {
	parent  *scope
	rels    []string          // table ids of this level's relations; "" for subqueries, functions, CTEs
	aliases map[string]string // alias or relation name → table id ("" when not a table)
	ctes    map[string]bool
}

func (s *scope) isCTE(name string) bool {
	for ; s != nil; s = s.parent {
		if s.ctes[name] {
			return true
		}
	}
	return false
}

type walker struct {
	tables, columns, funcs, tags map[string]struct{}
	attrs, ops                   map[string]struct{}
	kind                         Kind
	writes                       bool // a data-modifying statement occurs anywhere
	hasSelectInto                bool
	literalSensitive             bool
	// impure is set by anything that can have a side effect or run code not on the allow-lists: a
	// function, operator or type outside them, a locking clause, attribute notation naming a
	// non-allow-listed built-in function.
	impure   bool
	names    Statement // the SQL-level name fields (Prepare … Discard) of the top-level statement
	settings []Setting
	sc       *scope
	depth    int
}

func newWalker() *walker {
	return &walker{
		tables:  map[string]struct{}{},
		columns: map[string]struct{}{},
		funcs:   map[string]struct{}{},
		tags:    map[string]struct{}{},
		attrs:   map[string]struct{}{},
		ops:     map[string]struct{}{},
	}
}

func (w *walker) tag(t ...string) {
	for _, x := range t {
		w.tags[x] = struct{}{}
	}
}

func (w *walker) push() *scope {
	w.sc = &scope{parent: w.sc, aliases: map[string]string{}, ctes: map[string]bool{}}
	return w.sc
}

func (w *walker) pop() { w.sc = w.sc.parent }

func sortedKeys(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return slices.Clip(out)
}

func (w *walker) finish(text string, multi bool) Statement {
	if multi {
		w.tag(TagMultiStatement)
	}
	switch w.kind {
	case KindDDL:
		w.tag(TagDDL)
	case KindRole:
		w.tag(TagRoleChange)
	}
	st := w.names
	st.Kind = w.kind
	st.Text = text
	st.Tables = sortedKeys(w.tables)
	st.Columns = sortedKeys(w.columns)
	st.Tags = sortedKeys(w.tags)
	st.Functions = sortedKeys(w.funcs)
	st.AttrNames = sortedKeys(w.attrs)
	st.Operators = sortedKeys(w.ops)
	st.Settings = slices.Clip(w.settings)
	st.CopyIn = hasKey(w.tags, TagCopyIn)
	st.CopyOut = hasKey(w.tags, TagCopyOut)
	st.UnknownTables = hasKey(w.tags, TagDynamicSQL)
	st.SideEffectFree = w.kind == KindRead && !w.impure && !w.writes && !st.UnknownTables
	return st
}

func hasKey(m map[string]struct{}, k string) bool { _, ok := m[k]; return ok }

// inner returns the message held by a Node's oneof, or nil.
func inner(n *pg.Node) protoreflect.Message {
	if n == nil {
		return nil
	}
	m := n.ProtoReflect()
	fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0))
	if fd == nil {
		return nil
	}
	return m.Get(fd).Message()
}

func innerIface(n *pg.Node) any {
	m := inner(n)
	if m == nil {
		return nil
	}
	return m.Interface()
}

// str returns the value of a String node, or "".
func str(n *pg.Node) string {
	if s, ok := innerIface(n).(*pg.String); ok {
		return s.Sval
	}
	return ""
}

func joinNames(nodes []*pg.Node) string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if s := str(n); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ".")
}

func tableID(rv *pg.RangeVar) string {
	id := rv.Relname
	if rv.Schemaname != "" {
		id = rv.Schemaname + "." + id
	}
	if rv.Catalogname != "" {
		id = rv.Catalogname + "." + id
	}
	return id
}

// statement classifies a top-level statement node: its kind, then everything inside it.
func (w *walker) statement(n *pg.Node) {
	m := inner(n)
	if m == nil {
		w.kind = KindUtility
		return
	}
	switch x := m.Interface().(type) {
	case *pg.SelectStmt:
		w.walk(m)
		switch {
		case x.IntoClause != nil || w.hasSelectInto:
			w.kind = KindDDL
		case w.writes:
			w.kind = KindWrite
		default:
			w.kind = KindRead
		}
	case *pg.InsertStmt, *pg.UpdateStmt, *pg.DeleteStmt, *pg.MergeStmt:
		w.kind = KindWrite
		w.walk(m)
	case *pg.TruncateStmt:
		w.kind = KindWrite
		w.tag(TagTruncate)
		w.walk(m)
	case *pg.CopyStmt:
		w.kind = KindCopy
		w.copyStmt(x)
	case *pg.ExplainStmt:
		w.explain(x)
	case *pg.PrepareStmt:
		// PREPARE is where a statement becomes runnable, so it is judged as the statement it prepares.
		w.statement(x.Query)
		w.names.Prepare = x.Name
	case *pg.DeclareCursorStmt:
		// The query runs at FETCH/MOVE; DECLARE is judged as it so that the session can carry it there.
		w.statement(x.Query)
		w.names.Declare = x.Portalname
		w.names.DeclareHold = x.Options&cursorOptHold != 0
	case *pg.CreateTableAsStmt:
		w.kind = KindDDL
		if e, ok := innerIface(x.Query).(*pg.ExecuteStmt); ok {
			w.names.Execute, w.names.ExecuteRuns = e.Name, true
		}
		w.walk(m)
	case *pg.TransactionStmt, *pg.ConstraintsSetStmt:
		w.kind = KindTransaction
	case *pg.VariableSetStmt:
		w.kind = KindUtility
		if x.Kind == pg.VariableSetKind_VAR_SET_MULTI {
			w.kind = KindTransaction // SET TRANSACTION …, SET SESSION CHARACTERISTICS …
		}
		w.setting(x, true)
	case *pg.AlterSystemStmt:
		w.kind = KindUtility
		w.tag(TagAdminSetting)
	case *pg.LoadStmt:
		// LOAD runs a shared library's initialisation from the server's file system.
		w.kind = KindUtility
		w.tag(TagAdminSetting, TagExternalAccess)
	case *pg.DoStmt:
		w.kind = KindWrite
		w.tag(TagDynamicSQL)
	case *pg.CallStmt:
		w.kind = KindWrite
		w.walk(m)
	case *pg.RefreshMatViewStmt:
		w.kind = KindWrite
		w.walk(m)
	case *pg.CheckPointStmt:
		w.kind = KindUtility
		w.tag(TagAdminFunction)
	case *pg.ExecuteStmt:
		w.kind = KindUtility
		w.names.Execute, w.names.ExecuteRuns = x.Name, true
		w.walk(m) // the parameters are evaluated
	case *pg.DeallocateStmt:
		w.kind = KindUtility
		w.names.Deallocate, w.names.DeallocateAll = x.Name, x.Isall || x.Name == ""
	case *pg.FetchStmt:
		w.kind = KindUtility
		w.names.Fetch = x.Portalname
	case *pg.ClosePortalStmt:
		w.kind = KindUtility
		w.names.CloseCursor, w.names.CloseAll = x.Portalname, x.Portalname == ""
	case *pg.DiscardStmt:
		w.kind = KindUtility
		switch x.Target {
		case pg.DiscardMode_DISCARD_ALL:
			w.names.Discard = "all"
			w.settings = append(w.settings, Setting{Name: "all", Reset: true})
		case pg.DiscardMode_DISCARD_PLANS:
			w.names.Discard = "plans"
		case pg.DiscardMode_DISCARD_SEQUENCES:
			w.names.Discard = "sequences"
		case pg.DiscardMode_DISCARD_TEMP:
			w.names.Discard = "temp"
		}
	case *pg.VariableShowStmt, *pg.ListenStmt, *pg.UnlistenStmt, *pg.NotifyStmt,
		*pg.VacuumStmt, *pg.ClusterStmt, *pg.ReindexStmt, *pg.LockStmt:
		w.kind = KindUtility
		w.walk(m)
	case *pg.CreateRoleStmt, *pg.AlterRoleStmt, *pg.GrantStmt, *pg.GrantRoleStmt,
		*pg.AlterDefaultPrivilegesStmt, *pg.ReassignOwnedStmt:
		w.kind = KindRole
		w.walk(m)
	case *pg.AlterRoleSetStmt:
		w.kind = KindRole
		if x.Setstmt != nil {
			w.setting(x.Setstmt, false)
		}
	case *pg.DropRoleStmt:
		w.kind = KindRole
		w.tag(TagDrop)
	case *pg.DropOwnedStmt:
		w.kind = KindDDL
		w.tag(TagDrop)
	case *pg.DropStmt:
		w.kind = KindDDL
		w.tag(TagDrop)
		w.dropObjects(x)
	case *pg.DropdbStmt, *pg.DropTableSpaceStmt, *pg.DropSubscriptionStmt, *pg.DropUserMappingStmt:
		w.kind = KindDDL
		w.tag(TagDrop)
	case *pg.AlterDatabaseSetStmt:
		w.kind = KindDDL
		if x.Setstmt != nil {
			w.setting(x.Setstmt, false)
		}
	case *pg.CreateSubscriptionStmt, *pg.AlterSubscriptionStmt, *pg.CreateForeignServerStmt,
		*pg.AlterForeignServerStmt, *pg.ImportForeignSchemaStmt, *pg.CreateUserMappingStmt, *pg.AlterUserMappingStmt:
		// These make the server connect to, or hold credentials for, another server.
		w.kind = KindDDL
		w.tag(TagExternalAccess)
		w.walk(m)
	default:
		// Everything else changes schema objects (CREATE/ALTER of tables, views, functions, indexes, …).
		// Statement types we do not list are DDL too: unknown means held, not allowed.
		w.kind = KindDDL
		w.walk(m)
	}
}

// walk visits a message and everything below it, with special handling for nodes that introduce
// names (statements, FROM items) or reference them.
func (w *walker) walk(m protoreflect.Message) {
	if m == nil || !m.IsValid() {
		return
	}
	w.depth++
	defer func() { w.depth-- }()
	switch x := m.Interface().(type) {
	case *pg.Node:
		w.walk(inner(x))
		return
	case *pg.SelectStmt:
		w.selectStmt(x)
		return
	case *pg.InsertStmt:
		w.insertStmt(x)
		return
	case *pg.UpdateStmt:
		w.updateStmt(x)
		return
	case *pg.DeleteStmt:
		w.deleteStmt(x)
		return
	case *pg.MergeStmt:
		w.mergeStmt(x)
		return
	case *pg.RangeVar:
		w.table(x)
		return
	case *pg.ColumnRef:
		w.columnRef(x)
		return
	case *pg.FuncCall:
		w.funcCall(x)
	case *pg.A_Indirection:
		for _, f := range x.Indirection {
			if s, ok := innerIface(f).(*pg.String); ok {
				w.attr(s.Sval)
			}
		}
	case *pg.A_Expr:
		w.operator(x.Name)
	case *pg.SubLink:
		w.operator(x.OperName)
	case *pg.TypeName:
		w.typeName(x)
	case *pg.LockingClause:
		w.impure = true // row locks are side effects other sessions see
	case *pg.RangeTableSample:
		// The sampling method is a function; only the built-in ones are known to be harmless.
		if name, ok := builtinName(nameParts(x.Method)); !ok || name != "bernoulli" && name != "system" {
			w.impure = true
		}
	}
	w.children(m)
}

// children walks every message-valued field of m except the named ones.
func (w *walker) children(m protoreflect.Message, skip ...protoreflect.Name) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() || slices.Contains(skip, fd.Name()) {
			return true
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				w.walk(l.Get(i).Message())
			}
			return true
		}
		w.walk(v.Message())
		return true
	})
}

func (w *walker) walkNodes(nodes []*pg.Node) {
	for _, n := range nodes {
		w.walk(inner(n))
	}
}

// table records a relation reference (unless it names a CTE in scope) and returns its id ("" for a CTE).
func (w *walker) table(rv *pg.RangeVar) string {
	if rv == nil || rv.Relname == "" {
		return ""
	}
	if rv.Schemaname == "" && rv.Catalogname == "" && w.sc.isCTE(rv.Relname) {
		return ""
	}
	id := tableID(rv)
	w.tables[id] = struct{}{}
	if externalRelations[rv.Relname] && (rv.Schemaname == "" || rv.Schemaname == "pg_catalog") {
		w.tag(TagExternalAccess)
	}
	return id
}

// register adds a FROM item's relation names to scope sc (without walking subqueries: that happens in
// the ordinary walk, after every name of the level is known).
func (w *walker) register(sc *scope, n *pg.Node) {
	switch x := innerIface(n).(type) {
	case *pg.RangeVar:
		w.registerRel(sc, x)
	case *pg.JoinExpr:
		w.register(sc, x.Larg)
		w.register(sc, x.Rarg)
	case *pg.RangeSubselect:
		sc.rels = append(sc.rels, "")
		if x.Alias != nil {
			sc.aliases[x.Alias.Aliasname] = ""
		}
	case *pg.RangeFunction:
		sc.rels = append(sc.rels, "")
		if x.Alias != nil {
			sc.aliases[x.Alias.Aliasname] = ""
		}
	case *pg.RangeTableSample:
		w.register(sc, x.Relation)
	case nil:
	default:
		sc.rels = append(sc.rels, "")
	}
}

func (w *walker) registerRel(sc *scope, rv *pg.RangeVar) {
	if rv == nil {
		return
	}
	id := w.table(rv)
	sc.rels = append(sc.rels, id)
	if rv.Alias != nil && rv.Alias.Aliasname != "" {
		sc.aliases[rv.Alias.Aliasname] = id
		return
	}
	sc.aliases[rv.Relname] = id
	if rv.Schemaname != "" {
		sc.aliases[rv.Schemaname+"."+rv.Relname] = id
	}
}

// with walks a WITH clause: each CTE body sees the CTEs before it (and itself when recursive); the
// statement body sees them all.
func (w *walker) with(wc *pg.WithClause, sc *scope) {
	if wc == nil {
		return
	}
	for _, n := range wc.Ctes {
		cte, ok := innerIface(n).(*pg.CommonTableExpr)
		if !ok {
			w.walk(inner(n))
			continue
		}
		if wc.Recursive {
			sc.ctes[cte.Ctename] = true
		}
		w.walk(inner(cte.Ctequery))
		sc.ctes[cte.Ctename] = true
	}
}

func (w *walker) selectStmt(s *pg.SelectStmt) {
	if s.Op != pg.SetOperation_SETOP_NONE && s.Op != pg.SetOperation_SET_OPERATION_UNDEFINED {
		sc := w.push()
		w.with(s.WithClause, sc)
		w.walk(s.Larg.ProtoReflect())
		w.walk(s.Rarg.ProtoReflect())
		w.walkNodes(s.SortClause)
		w.walk(inner(s.LimitCount))
		w.walk(inner(s.LimitOffset))
		w.pop()
		return
	}
	if s.IntoClause != nil {
		w.hasSelectInto = true
		w.tag(TagSelectInto)
	}
	sc := w.push()
	w.with(s.WithClause, sc)
	for _, f := range s.FromClause {
		w.register(sc, f)
	}
	w.children(s.ProtoReflect(), "with_clause", "larg", "rarg")
	w.pop()
}

// target registers a DML target relation and returns its id.
func (w *walker) target(sc *scope, rv *pg.RangeVar) string {
	w.registerRel(sc, rv)
	if rv == nil {
		return ""
	}
	return w.table(rv)
}

func (w *walker) targetColumns(id string, targets []*pg.Node) {
	for _, n := range targets {
		if rt, ok := innerIface(n).(*pg.ResTarget); ok && rt.Name != "" {
			w.addColumn(id, rt.Name)
		}
	}
}

func (w *walker) insertStmt(s *pg.InsertStmt) {
	w.writes = true
	sc := w.push()
	w.with(s.WithClause, sc)
	id := w.target(sc, s.Relation)
	sc.aliases["excluded"] = id
	if len(s.Cols) == 0 {
		w.addColumn(id, "*")
	}
	w.targetColumns(id, s.Cols)
	if s.OnConflictClause != nil {
		w.targetColumns(id, s.OnConflictClause.TargetList)
	}
	w.children(s.ProtoReflect(), "with_clause", "relation")
	w.pop()
}

func (w *walker) updateStmt(s *pg.UpdateStmt) {
	w.writes = true
	if s.WhereClause == nil {
		w.tag(TagNoWhere)
	}
	sc := w.push()
	w.with(s.WithClause, sc)
	id := w.target(sc, s.Relation)
	for _, f := range s.FromClause {
		w.register(sc, f)
	}
	w.targetColumns(id, s.TargetList)
	w.children(s.ProtoReflect(), "with_clause", "relation")
	w.pop()
}

func (w *walker) deleteStmt(s *pg.DeleteStmt) {
	w.writes = true
	if s.WhereClause == nil {
		w.tag(TagNoWhere)
	}
	sc := w.push()
	w.with(s.WithClause, sc)
	w.target(sc, s.Relation)
	for _, f := range s.UsingClause {
		w.register(sc, f)
	}
	w.children(s.ProtoReflect(), "with_clause", "relation")
	w.pop()
}

func (w *walker) mergeStmt(s *pg.MergeStmt) {
	w.writes = true
	sc := w.push()
	w.with(s.WithClause, sc)
	id := w.target(sc, s.Relation)
	w.register(sc, s.SourceRelation)
	for _, n := range s.MergeWhenClauses {
		if mw, ok := innerIface(n).(*pg.MergeWhenClause); ok {
			w.targetColumns(id, mw.TargetList)
		}
	}
	w.children(s.ProtoReflect(), "with_clause", "relation")
	w.pop()
}

func (w *walker) addColumn(table, col string) {
	if table != "" {
		w.columns[table+"."+col] = struct{}{}
	} else {
		w.columns[col] = struct{}{}
	}
}

// resolve finds the table id for a qualifier (alias or relation name) in the scopes, innermost first.
func (w *walker) resolve(qual string) (id string, found bool) {
	for s := w.sc; s != nil; s = s.parent {
		if id, ok := s.aliases[qual]; ok {
			return id, true
		}
	}
	return "", false
}

// only returns the single relation of the innermost level that has any, or "" when that level has
// several (we do not know the columns of each table, so we do not guess).
func (w *walker) only() string {
	for s := w.sc; s != nil; s = s.parent {
		if len(s.rels) == 0 {
			continue
		}
		if len(s.rels) == 1 {
			return s.rels[0]
		}
		return ""
	}
	return ""
}

func (w *walker) columnRef(c *pg.ColumnRef) {
	parts := make([]string, 0, len(c.Fields))
	for _, f := range c.Fields {
		switch x := innerIface(f).(type) {
		case *pg.String:
			parts = append(parts, x.Sval)
		case *pg.A_Star:
			parts = append(parts, "*")
		}
	}
	switch len(parts) {
	case 0:
		return
	case 1:
		if parts[0] == "*" {
			w.star()
			return
		}
		w.addColumn(w.only(), parts[0])
		// A bare relation name or alias is a whole-row reference (row_to_json(c)) unless a column of that
		// name exists, which we cannot know: count both.
		if id, ok := w.resolve(parts[0]); ok && id != "" {
			w.addColumn(id, "*")
		}
	default:
		qual := strings.Join(parts[:len(parts)-1], ".")
		col := parts[len(parts)-1]
		if col != "*" {
			w.attr(col)
		}
		if id, ok := w.resolve(qual); ok {
			w.addColumn(id, col)
		} else {
			// Not a name in scope (PostgreSQL will refuse it); keep it as written.
			w.addColumn(qual, col)
		}
	}
}

// star records an unqualified "*": every table of the innermost level with relations, or "*" when none
// of them is a table (subqueries and functions, whose own columns were recorded inside them).
func (w *walker) star() {
	for s := w.sc; s != nil; s = s.parent {
		if len(s.rels) == 0 {
			continue
		}
		found := false
		for _, id := range s.rels {
			if id != "" {
				w.addColumn(id, "*")
				found = true
			}
		}
		if !found {
			w.addColumn("", "*")
		}
		return
	}
	w.addColumn("", "*")
}

func (w *walker) funcCall(f *pg.FuncCall) {
	name := joinNames(f.Funcname)
	if name == "" {
		return
	}
	w.funcs[name] = struct{}{}
	base, builtin := builtinName(nameParts(f.Funcname))
	if !builtin || !allowFuncs[base] {
		w.impure = true
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		base = name[i+1:]
	}
	w.funcTags(base)
	switch {
	case base == "ts_rewrite" && len(f.Args) == 2:
		// ts_rewrite(query tsquery, select text) runs the SELECT it is given.
		w.tag(TagDynamicSQL)
	case base == "set_config":
		w.literalSensitive = true
		setting := ""
		if len(f.Args) > 0 {
			setting = constString(f.Args[0])
		}
		switch {
		case setting == "":
			// Computed name: it could be anything.
			w.tag(TagAdminSetting, TagSetRole, TagLexing)
		case roleSettings[strings.ToLower(setting)]:
			w.tag(TagSetRole)
		case isAdminSetting(setting):
			w.tag(TagAdminSetting)
		}
		if lexingSettings[strings.ToLower(setting)] {
			w.tag(TagLexing)
		}
		w.setConfig(f)
	}
}

// funcTags tags a call of the function named base (unqualified), whether written as a call or in
// attribute notation.
func (w *walker) funcTags(base string) {
	switch {
	case strings.HasPrefix(base, "dblink"):
		// dblink runs SQL given as text on a server that may be this one.
		w.tag(TagExternalAccess, TagDynamicSQL)
	case externalFuncs[base]:
		w.tag(TagExternalAccess)
	case adminFuncs[base] || strings.HasPrefix(base, "pg_replication_origin_"):
		w.tag(TagAdminFunction)
	case dynamicFuncs[base]:
		w.tag(TagDynamicSQL)
	}
}

// attr records a name in attribute position ((x).f, t.f): PostgreSQL calls f(x) when x has no column f.
func (w *walker) attr(name string) {
	name = strings.ToLower(name)
	w.attrs[name] = struct{}{}
	w.funcTags(name)
	if oneArgImpure[name] {
		w.impure = true
	}
}

// operator records an operator name (A_Expr, sublink); one outside the built-in symbols, or qualified
// with a schema other than pg_catalog, is a user operator whose function we cannot see.
func (w *walker) operator(names []*pg.Node) {
	parts := nameParts(names)
	if len(parts) == 0 {
		return
	}
	w.ops[strings.Join(parts, ".")] = struct{}{}
	if op, ok := builtinName(parts); !ok || !builtinOperators[op] {
		w.impure = true
	}
}

// typeName checks a type name (casts, typed literals, …): casting to a user type can run its input
// function, a domain's CHECK expressions or a user cast function.
func (w *walker) typeName(t *pg.TypeName) {
	if t.PctType {
		w.impure = true
		return
	}
	if name, ok := builtinName(nameParts(t.Names)); !ok || !builtinTypes[name] {
		w.impure = true
	}
}

// nameParts returns the String values of a name list.
func nameParts(nodes []*pg.Node) []string {
	parts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		parts = append(parts, str(n))
	}
	return parts
}

// setConfig records set_config(name, value, is_local) as a Setting.
func (w *walker) setConfig(f *pg.FuncCall) {
	s := Setting{Computed: len(f.Args) != 3}
	if len(f.Args) > 0 {
		name, ok := constValue(f.Args[0])
		s.Name, s.Computed = strings.ToLower(name), s.Computed || !ok
	}
	if len(f.Args) > 1 {
		if isNullConst(f.Args[1]) {
			s.Reset = true // set_config is not strict: a NULL value resets the setting
		} else {
			v, ok := constValue(f.Args[1])
			s.Value, s.Computed = strings.ToLower(v), s.Computed || !ok
		}
	}
	if len(f.Args) > 2 {
		if v, ok := constValue(f.Args[2]); ok {
			s.Local = defTrue(f.Args[2]) && v != ""
		} else {
			s.Computed = true
		}
	}
	w.settings = append(w.settings, s)
}

// constValue returns the text of a constant (possibly cast: 'x'::text), and false for anything else.
func constValue(n *pg.Node) (string, bool) {
	switch x := innerIface(n).(type) {
	case *pg.A_Const:
		switch v := x.Val.(type) {
		case *pg.A_Const_Sval:
			return v.Sval.GetSval(), true
		case *pg.A_Const_Ival:
			return strconv.FormatInt(int64(v.Ival.GetIval()), 10), true
		case *pg.A_Const_Fval:
			return v.Fval.GetFval(), true
		case *pg.A_Const_Boolval:
			return strconv.FormatBool(v.Boolval.GetBoolval()), true
		case *pg.A_Const_Bsval:
			return v.Bsval.GetBsval(), true
		}
	case *pg.TypeCast:
		return constValue(x.Arg)
	}
	return "", false
}

func isNullConst(n *pg.Node) bool {
	switch x := innerIface(n).(type) {
	case *pg.A_Const:
		return x.Isnull
	case *pg.TypeCast:
		return isNullConst(x.Arg)
	}
	return false
}

// constString returns a string constant's value, or "" when n is not one.
func constString(n *pg.Node) string {
	switch x := innerIface(n).(type) {
	case *pg.A_Const:
		if s, ok := x.Val.(*pg.A_Const_Sval); ok && s.Sval != nil {
			return s.Sval.Sval
		}
	case *pg.TypeCast:
		return constString(x.Arg)
	}
	return ""
}

// setting tags a SET/RESET; session is false for ALTER ROLE/DATABASE … SET, which change the settings
// of later sessions, not of this one (so they are not listed in Settings).
func (w *walker) setting(s *pg.VariableSetStmt, session bool) {
	name := strings.ToLower(s.Name)
	switch {
	case roleSettings[name]:
		w.tag(TagSetRole)
	case isAdminSetting(name):
		w.tag(TagAdminSetting)
	case name == "search_path":
		w.tag(TagSearchPath)
	}
	if lexingSettings[name] {
		w.tag(TagLexing)
	}
	if !session {
		return
	}
	st := Setting{Name: name, Local: s.IsLocal}
	switch s.Kind {
	case pg.VariableSetKind_VAR_SET_VALUE:
		vals := make([]string, 0, len(s.Args))
		for _, a := range s.Args {
			v, ok := constValue(a)
			if _, plain := innerIface(a).(*pg.A_Const); !ok || !plain {
				st.Computed = true // SET TIME ZONE INTERVAL '…' HOUR TO MINUTE and the like
			}
			vals = append(vals, strings.ToLower(v))
		}
		st.Value = strings.Join(vals, ", ")
		w.literalSensitive = true // Value reads the literals
	case pg.VariableSetKind_VAR_SET_DEFAULT, pg.VariableSetKind_VAR_RESET:
		st.Reset = true
	case pg.VariableSetKind_VAR_RESET_ALL:
		st.Name, st.Reset = "all", true
	case pg.VariableSetKind_VAR_SET_CURRENT:
		st.Computed = true // SET x FROM CURRENT: the value is whatever it is now
	default:
		return // SET TRANSACTION / SESSION CHARACTERISTICS: transaction modes, not run-time settings
	}
	w.settings = append(w.settings, st)
}

func (w *walker) copyStmt(c *pg.CopyStmt) {
	if c.IsFrom {
		w.tag(TagCopyIn)
	} else {
		w.tag(TagCopyOut)
	}
	if c.IsProgram {
		w.tag(TagCopyProgram, TagExternalAccess)
	} else if c.Filename != "" {
		// A server-side file: pg_read_server_files / pg_write_server_files territory.
		w.tag(TagExternalAccess)
	}
	if c.Relation != nil {
		sc := w.push()
		id := w.target(sc, c.Relation)
		if len(c.Attlist) == 0 {
			w.addColumn(id, "*")
		}
		if !c.IsFrom {
			w.names.CopyTable = id
		}
		for _, a := range c.Attlist {
			if s := str(a); s != "" {
				w.addColumn(id, s)
				if !c.IsFrom {
					w.names.CopyColumns = append(w.names.CopyColumns, s)
				}
			}
		}
		w.walk(inner(c.WhereClause))
		w.pop()
	}
	if c.Query != nil {
		w.walk(inner(c.Query))
		if w.writes {
			w.tag(TagDataModifying)
		}
	}
}

func (w *walker) explain(e *pg.ExplainStmt) {
	analyze := false
	for _, o := range e.Options {
		d, ok := innerIface(o).(*pg.DefElem)
		if !ok || d.Defname != "analyze" {
			continue
		}
		analyze = true
		if d.Arg != nil {
			w.literalSensitive = true
			analyze = defTrue(d.Arg)
		}
	}
	// EXPLAIN DECLARE explains the cursor's query but opens no cursor.
	defer func() { w.names.Declare, w.names.DeclareHold = "", false }()
	if analyze {
		// EXPLAIN ANALYZE runs the statement: it is what it explains.
		w.statement(e.Query)
		return
	}
	w.statement(e.Query)
	w.names.ExecuteRuns = false // only planned
	w.kind = KindUtility
	w.writes = false
	// Without ANALYZE nothing runs, so only tags about the planner reaching outside stay.
	for t := range w.tags {
		if !plannerTags[t] {
			delete(w.tags, t)
		}
	}
}

// defTrue reads a boolean option value the way PostgreSQL's defGetBoolean does; anything it cannot
// read counts as true (the conservative answer for ANALYZE).
func defTrue(n *pg.Node) bool {
	switch x := innerIface(n).(type) {
	case *pg.A_Const:
		switch v := x.Val.(type) {
		case *pg.A_Const_Ival:
			return v.Ival == nil || v.Ival.Ival != 0
		case *pg.A_Const_Boolval:
			return v.Boolval == nil || v.Boolval.Boolval
		case *pg.A_Const_Sval:
			if v.Sval == nil {
				return true
			}
			switch strings.ToLower(v.Sval.Sval) {
			case "false", "off", "no", "0", "f", "n":
				return false
			}
		}
	case *pg.String:
		switch strings.ToLower(x.Sval) {
		case "false", "off", "no", "0", "f", "n":
			return false
		}
	case *pg.Integer:
		return x.Ival != 0
	case *pg.Boolean:
		return x.Boolval
	}
	return true
}

func (w *walker) dropObjects(d *pg.DropStmt) {
	switch d.RemoveType {
	case pg.ObjectType_OBJECT_TABLE, pg.ObjectType_OBJECT_VIEW, pg.ObjectType_OBJECT_MATVIEW,
		pg.ObjectType_OBJECT_FOREIGN_TABLE, pg.ObjectType_OBJECT_SEQUENCE, pg.ObjectType_OBJECT_INDEX:
		for _, o := range d.Objects {
			if l, ok := innerIface(o).(*pg.List); ok {
				if name := joinNames(l.Items); name != "" {
					w.tables[name] = struct{}{}
				}
			}
		}
	}
}
