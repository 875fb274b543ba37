package query

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// NewUnchecked wraps conn without New's check of the audit tables (tests that read system tables only).
func NewUnchecked(conn driver.Conn, cfg Config) *DB { return &DB{conn: conn, cfg: cfg} }

// ReadsOverHTTP reports whether StreamRows reads sql's result in RowBinary over HTTP (not natively).
func ReadsOverHTTP(db *DB, sql string) (bool, error) {
	names, types, err := db.describe(context.Background(), sql)
	if err != nil {
		return false, err
	}
	_, ok := rowDecoders(names, types)
	return ok, nil
}
