package auditstore

import (
	"slices"
	"testing"
)

// TestTablesMatchMigrations: every table the indexer writes exists in the migrations with exactly the Go
// list's columns in the same order, so an INSERT built from Table.Columns matches the DDL.
func TestTablesMatchMigrations(t *testing.T) {
	ddl, err := MigratedColumns()
	if err != nil {
		t.Fatal(err)
	}
	if len(ddl) < len(All) {
		t.Fatalf("the migrations create %d tables, fewer than the %d the indexer writes", len(ddl), len(All))
	}
	for _, tbl := range All {
		cols, ok := ddl[tbl.Name]
		if !ok {
			t.Errorf("%s: no CREATE TABLE in migrations/", tbl.Name)
			continue
		}
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Name
		}
		if !slices.Equal(names, tbl.Columns) {
			t.Errorf("%s: Go lists %v, DDL has %v", tbl.Name, tbl.Columns, names)
		}
	}
}

// TestReportedTablesAreWritten: the tables the reporter requires are tables the indexer writes.
func TestReportedTablesAreWritten(t *testing.T) {
	for _, tbl := range Reported {
		if !slices.Contains(All, tbl) {
			t.Errorf("Reported lists %s, which is not in All", tbl.Name)
		}
	}
}
