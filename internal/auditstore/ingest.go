package auditstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// IngestSuffix names the write-only ingest database of an audit database: the indexer user inserts into
// <database>_ingest and has no access at all to <database> (docs/deploy.md, "The indexer cannot rewrite the
// audit store").
const IngestSuffix = "_ingest"

// IngestDatabase is the database the indexer user writes into for audit database db.
func IngestDatabase(db string) string { return db + IngestSuffix }

// ViewSuffix names the materialized view that moves the rows of ingest table t into the audit table t.
const ViewSuffix = "_to_audit"

// EnsureIngest creates, as the operator on conn, database IngestDatabase(db) with one Null table per audit
// table in tables (same name, the audit table's insertable columns) and a materialized view
// <table>_to_audit TO db.<table> AS SELECT * FROM the Null table. An INSERT into the ingest table writes the
// audit table in the same statement, and fails when the audit table is missing or lacks a column: no row is
// ever acknowledged without being stored.
//
// Why: ClickHouse 18.16 cannot pin allow_ddl. A client sends allow_ddl=1 with its query (native protocol
// settings are applied without the SET check) and any user whose profile is not readonly may then DROP,
// ALTER … DELETE or TRUNCATE every table of the databases it may use; readonly pins everything but also
// forbids INSERT, and settings constraints arrived only in 19.x. What 18.16 does enforce whatever the client
// sends is allow_databases, and a materialized view writes its target without checking the inserting user's
// databases. So the indexer user may use only the ingest database: whatever DDL it sends there reaches Null
// tables and views, and every statement naming the audit database is refused with "Access denied to
// database". A view with a TO table refuses ALTER, OPTIMIZE and partition commands for its target.
//
// Run it after the migrations: a column a migration added to an audit table is added to its ingest table
// (ALTER TABLE … ADD COLUMN, with the audit table's DEFAULT), so the view keeps carrying every column. A
// column whose type differs, or that the ingest table has and the audit table lacks, is an error naming it:
// drop the ingest database and run again.
func EnsureIngest(ctx context.Context, conn driver.Conn, db string, tables []string) error {
	ing := IngestDatabase(db)
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(ing)); err != nil {
		return fmt.Errorf("clickhouse ingest: create database %s: %w", ing, err)
	}
	for _, t := range tables {
		want, err := columns(ctx, conn, db, t)
		if err != nil {
			return err
		}
		if len(want) == 0 {
			return fmt.Errorf("clickhouse ingest: audit table %s.%s has no columns (missing?): run the migrations first", db, t)
		}
		have, err := columns(ctx, conn, ing, t)
		if err != nil {
			return err
		}
		if len(have) == 0 {
			defs := make([]string, len(want))
			for i, c := range want {
				defs[i] = c.def()
			}
			stmt := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s.%s (%s) ENGINE = Null", quoteIdent(ing), quoteIdent(t), strings.Join(defs, ", "))
			if err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("clickhouse ingest: create %s.%s: %w", ing, t, err)
			}
		} else {
			byName := map[string]column{}
			for _, c := range have {
				byName[c.name] = c
			}
			for _, c := range want {
				h, ok := byName[c.name]
				if !ok {
					if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMN %s", quoteIdent(ing), quoteIdent(t), c.def())); err != nil {
						return fmt.Errorf("clickhouse ingest: add column %s to %s.%s: %w", c.name, ing, t, err)
					}
					continue
				}
				if h.typ != c.typ {
					return fmt.Errorf("clickhouse ingest: column %s of %s.%s is %s but %s in %s: drop database %s and run the migrations again", c.name, ing, t, h.typ, c.typ, db, ing)
				}
				delete(byName, c.name)
			}
			for name := range byName {
				return fmt.Errorf("clickhouse ingest: %s.%s has column %s that %s.%s lacks: drop database %s and run the migrations again", ing, t, name, db, t, ing)
			}
		}
		view := fmt.Sprintf("CREATE MATERIALIZED VIEW IF NOT EXISTS %s.%s TO %s.%s AS SELECT * FROM %s.%s",
			quoteIdent(ing), quoteIdent(t+ViewSuffix), quoteIdent(db), quoteIdent(t), quoteIdent(ing), quoteIdent(t))
		if err := conn.Exec(ctx, view); err != nil {
			return fmt.Errorf("clickhouse ingest: create view %s.%s: %w", ing, t+ViewSuffix, err)
		}
	}
	return nil
}

type column struct{ name, typ, defaultKind, defaultExpr string }

func (c column) def() string {
	s := quoteIdent(c.name) + " " + c.typ
	if c.defaultKind == "DEFAULT" && c.defaultExpr != "" {
		s += " DEFAULT " + c.defaultExpr
	}
	return s
}

// columns lists the insertable columns of db.table in order (MATERIALIZED and ALIAS columns are computed by
// the audit table itself); none when the table does not exist.
func columns(ctx context.Context, conn driver.Conn, db, table string) ([]column, error) {
	// Rows come in table order (18.16's system.columns has no position column to sort by).
	rs, err := conn.Query(ctx, "SELECT name, type, default_kind, default_expression FROM system.columns WHERE database = ? AND table = ?", db, table)
	if err != nil {
		return nil, fmt.Errorf("clickhouse ingest: columns of %s.%s: %w", db, table, err)
	}
	defer rs.Close()
	var out []column
	for rs.Next() {
		var c column
		if err := rs.Scan(&c.name, &c.typ, &c.defaultKind, &c.defaultExpr); err != nil {
			return nil, fmt.Errorf("clickhouse ingest: columns of %s.%s: %w", db, table, err)
		}
		if c.defaultKind == "MATERIALIZED" || c.defaultKind == "ALIAS" {
			continue
		}
		out = append(out, c)
	}
	return out, rs.Err()
}

// quoteIdent quotes a ClickHouse identifier with backquotes.
func quoteIdent(s string) string {
	return "`" + strings.NewReplacer("\\", "\\\\", "`", "\\`").Replace(s) + "`"
}
