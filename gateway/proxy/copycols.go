package proxy

import (
	"strings"

	"github.com/pangate/pangate/gateway/classify"
)

// TableColumns is implemented by column catalogs (gateway/catalog.Catalog) that can list a table's columns
// in attribute order. The gateway uses it to know what "table.*" and a whole-table COPY contain: which
// columns are cardholder data (Statement.Cardholder) and which COPY columns to mask whole.
type TableColumns interface {
	// TableColumns returns the columns of table ("table" or "schema.table", as the classifier writes it)
	// in attnum order; ok is false when the table is unknown.
	TableColumns(table string) (columns []string, ok bool)
}

// tableColumns lists a table's columns through the session's catalog, if it can.
func (ss *session) tableColumns(table string) ([]string, bool) {
	tc, ok := ss.cat.(TableColumns)
	if !ok || table == "" {
		return nil, false
	}
	return tc.TableColumns(table)
}

// copyColumns returns what SetCopyColumns needs for a COPY … TO of a table: its column list, or for a
// whole-table COPY the table's columns from the catalog. ok is false for COPY (query) and when the
// columns are unknown.
func (ss *session) copyColumns(c classify.Statement) (string, []string, bool) {
	var ok bool
	if !c.CopyOut {
		return "", nil, false
	}
	table, cols := c.CopyTable, c.CopyColumns
	if table == "" {
		return "", nil, false // COPY (query) TO: content-scanned
	}
	if cols == nil {
		if cols, ok = ss.tableColumns(table); !ok {
			return "", nil, false
		}
	}
	return table, cols, true
}

// cardholder reports whether a statement touches data tagged as cardholder data: a tagged column, a
// "table.*" (or a write, or a whole-table COPY) on a table with a tagged column, and — since the
// classifier cannot always say which table an unqualified column or a bare "*" comes from — such a
// column tagged in any of the statement's tables, or a bare "*" with a cardholder table among them.
func (ss *session) cardholder(c classify.Statement) bool {
	if c.UnknownTables {
		return true // SQL the parse tree does not show (dynamic SQL, a cursor opened in a function)
	}
	m := ss.srv.deps.Masker
	for _, col := range c.Columns {
		table, name := "", col
		if i := strings.LastIndexByte(col, '.'); i >= 0 {
			table, name = col[:i], col[i+1:]
		}
		switch {
		case name == "*" && table != "":
			if ss.cardholderTable(table) {
				return true
			}
		case name == "*":
			for _, t := range c.Tables {
				if ss.cardholderTable(t) {
					return true
				}
			}
		case table != "":
			if m.Tagged(table, name) {
				return true
			}
		default:
			if m.Tagged("", name) {
				return true
			}
			for _, t := range c.Tables {
				if m.Tagged(t, name) {
					return true
				}
			}
		}
	}
	for _, t := range c.Tables {
		if (c.Kind != classify.KindRead || c.CopyOut) && ss.cardholderTable(t) {
			return true
		}
	}
	return false
}

// cardholderTable reports whether a table holds cardholder data: configured as such (a "table.column"
// mask tag), or one of its columns (from the catalog) matches a mask tag or pattern.
func (ss *session) cardholderTable(t string) bool {
	if ss.srv.cardholderTable(t) {
		return true
	}
	cols, ok := ss.tableColumns(t)
	if !ok {
		return false
	}
	for _, col := range cols {
		if ss.srv.deps.Masker.Tagged(t, col) {
			return true
		}
	}
	return false
}
