// Package cookbook holds the auditors' ready queries against the indexer's ClickHouse tables
// (queries/NN_name.sql, embedded) and renders docs/auditors.md from them, so the documentation shows exactly
// the SQL the integration tests run against seeded events.
//
// A query file starts with "--" header lines:
//
//	-- title: one line
//	-- pci: requirement numbers
//	-- param: name        (optional, repeatable: the query has a line  'value' AS name  to edit)
//	-- free text describing the query (any further comment lines)
//
// Every query reads its tables with FINAL: the tables deduplicate replayed rows (see internal/auditstore), and
// FINAL makes each event count exactly once (design invariant 6).
package cookbook

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
)

//go:embed queries/*.sql
var files embed.FS

// Query is one cookbook entry.
type Query struct {
	Name        string   // file name without .sql, e.g. 02_session_statements
	Title       string   // one line
	PCI         string   // requirement numbers
	Description string   // prose from the header
	Params      []string // names editable through a  'value' AS name  line
	SQL         string   // the query without its header
}

// All returns every query in file order.
func All() ([]Query, error) {
	names, err := fs.Glob(files, "queries/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Query
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		q, err := parse(strings.TrimSuffix(strings.TrimPrefix(n, "queries/"), ".sql"), string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

func parse(name, text string) (Query, error) {
	q := Query{Name: name}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	i := 0
	var desc []string
	for ; i < len(lines) && strings.HasPrefix(lines[i], "--"); i++ {
		l := strings.TrimSpace(strings.TrimPrefix(lines[i], "--"))
		switch {
		case strings.HasPrefix(l, "title:"):
			q.Title = strings.TrimSpace(strings.TrimPrefix(l, "title:"))
		case strings.HasPrefix(l, "pci:"):
			q.PCI = strings.TrimSpace(strings.TrimPrefix(l, "pci:"))
		case strings.HasPrefix(l, "param:"):
			q.Params = append(q.Params, strings.TrimSpace(strings.TrimPrefix(l, "param:")))
		default:
			desc = append(desc, l)
		}
	}
	q.Description = strings.Join(desc, " ")
	q.SQL = strings.TrimSpace(strings.Join(lines[i:], "\n"))
	if q.Title == "" || q.PCI == "" || q.SQL == "" {
		return q, fmt.Errorf("cookbook: %s needs title, pci and SQL", name)
	}
	if strings.Contains(q.SQL, ";") {
		return q, fmt.Errorf("cookbook: %s: no ';' in a query (the driver sends one statement)", name)
	}
	for _, p := range q.Params {
		if !paramLine(p).MatchString(q.SQL) {
			return q, fmt.Errorf("cookbook: %s: param %s has no  'value' AS %s  in the SQL", name, p, p)
		}
	}
	return q, nil
}

func paramLine(name string) *regexp.Regexp {
	return regexp.MustCompile(`'(?:[^'\\]|\\.)*' AS ` + regexp.QuoteMeta(name) + `\b`)
}

// Render returns the SQL with the given parameter values in place of the defaults. Values are quoted as
// ClickHouse string literals.
func (q Query) Render(params map[string]string) (string, error) {
	sql := q.SQL
	for name, v := range params {
		found := false
		for _, p := range q.Params {
			found = found || p == name
		}
		if !found {
			return "", fmt.Errorf("cookbook: %s has no parameter %s", q.Name, name)
		}
		lit := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "' AS " + name
		sql = paramLine(name).ReplaceAllLiteralString(sql, lit)
	}
	return sql, nil
}
