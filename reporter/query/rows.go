package query

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/pangate/pangate/schemas"
)

// StreamRows runs sql and hands its result over row by row, each cell rendered as text exactly as Rows
// renders it (times, arrays, numbers): cols is called once with the column names before any row (also for
// an empty result), then row once per row. The row slice is reused between calls: a caller that keeps a row
// copies it (CopyRow). Nothing of the result is collected, so a population of millions of rows costs a
// buffer of the read, not the whole result (issue 16, docs/evidence.md "Memory").
//
// With clickhouse.http_addr set, the rows are read in RowBinary over ClickHouse's HTTP interface (the
// column types from DESCRIBE first): the native client allocates every block's strings anew, several times
// the data. A result with a column type the RowBinary reader does not know is read natively.
func (db *DB) StreamRows(ctx context.Context, sql string, cols func([]string) error, row func([]string) error) error {
	if db.cfg.HTTPAddr != "" {
		names, types, err := db.describe(ctx, sql)
		if err != nil {
			return err
		}
		if decs, ok := rowDecoders(names, types); ok {
			return db.streamHTTP(ctx, sql, names, decs, cols, row)
		}
	}
	return db.streamNative(ctx, sql, cols, row)
}

// CopyRow returns a copy of a row StreamRows handed over, to keep past the call.
func CopyRow(r []string) []string { return append([]string(nil), r...) }

func (db *DB) streamNative(ctx context.Context, sql string, cols func([]string) error, row func([]string) error) error {
	rows, err := db.conn.Query(ctx, sql)
	if err != nil {
		return db.wrap(err, sql)
	}
	defer rows.Close()
	names := rows.Columns()
	cts := rows.ColumnTypes()
	ptrs := make([]any, len(cts))
	fmts := make([]func() string, len(cts))
	for i, ct := range cts {
		ptrs[i] = reflect.New(ct.ScanType()).Interface()
		fmts[i] = formatter(names[i], ptrs[i])
	}
	if err := cols(names); err != nil {
		return err
	}
	rec := make([]string, len(names))
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return db.wrap(err, sql)
		}
		for i, f := range fmts {
			rec[i] = f()
		}
		if err := row(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return db.wrap(err, sql)
	}
	return nil
}

// httpGet runs q through ClickHouse's HTTP interface (GET: read-only for ClickHouse, and retried by
// net/http on a kept-alive connection the server closed meanwhile), returning the body of a 200 answer.
func (db *DB) httpGet(ctx context.Context, q, sql string) (io.ReadCloser, error) {
	u := "http://" + db.cfg.HTTPAddr + "/?database=" + url.QueryEscape(db.cfg.Database) + "&query=" + url.QueryEscape(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("query: clickhouse.http_addr %q: %w", db.cfg.HTTPAddr, err)
	}
	req.Header.Set("X-ClickHouse-User", db.cfg.User)
	req.Header.Set("X-ClickHouse-Key", db.cfg.Password)
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w at clickhouse.http_addr %s: %v: check that ClickHouse's HTTP interface listens there", ErrUnreachable, db.cfg.HTTPAddr, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("query: ClickHouse HTTP %s at %s (user %s, database %s): %s (in: %s…)", resp.Status, db.cfg.HTTPAddr, db.cfg.User, db.cfg.Database, bytes.TrimSpace(msg), strings.SplitN(sql, "\n", 2)[0])
	}
	return resp.Body, nil
}

// describe returns the names and types of sql's result columns (DESCRIBE of the query as a subquery:
// ClickHouse analyses it without running it).
func (db *DB) describe(ctx context.Context, sql string) (names, types []string, err error) {
	body, err := db.httpGet(ctx, "DESCRIBE TABLE ("+sql+"\n)\nFORMAT TabSeparated", sql)
	if err != nil {
		return nil, nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("query: describe at clickhouse.http_addr %s: %w", db.cfg.HTTPAddr, err)
	}
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		f := strings.Split(l, "\t")
		if len(f) < 2 || strings.Contains(l, `\`) { // an escaped name: leave it to the native reader
			return nil, nil, nil
		}
		names, types = append(names, f[0]), append(types, f[1])
	}
	return names, types, nil
}

// cellDecoder reads one RowBinary value from br and appends its text (as Rows renders it) to out.
type cellDecoder func(br *bufio.Reader, out []byte, scratch *[]byte) ([]byte, error)

// rowDecoders returns a decoder per column, or false when a type is not one the reader renders exactly as
// the native reader does (then the caller reads natively).
func rowDecoders(names, types []string) ([]cellDecoder, bool) {
	if len(names) == 0 {
		return nil, false
	}
	decs := make([]cellDecoder, len(types))
	for i, t := range types {
		switch t {
		case "String":
			decs[i] = decString
		case "Array(String)":
			decs[i] = decStrings
		case "UInt8":
			decs[i] = decUint(1)
		case "UInt16":
			decs[i] = decUint(2)
		case "UInt32":
			decs[i] = decUint(4)
		case "UInt64":
			if isTimeCol(names[i]) {
				decs[i] = decTime
			} else {
				decs[i] = decUint(8)
			}
		case "Int32":
			decs[i] = decInt(4)
		case "Int64":
			decs[i] = decInt(8)
		case "Float64":
			decs[i] = decFloat
		default:
			return nil, false
		}
	}
	return decs, true
}

func decString(br *bufio.Reader, out []byte, _ *[]byte) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return out, err
	}
	if n > maxRecord {
		return out, fmt.Errorf("string of %d bytes", n)
	}
	at := len(out)
	out = append(out, make([]byte, n)...)
	_, err = io.ReadFull(br, out[at:])
	return out, err
}

func decStrings(br *bufio.Reader, out []byte, scratch *[]byte) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return out, err
	}
	if n > maxRecord {
		return out, fmt.Errorf("array of %d elements", n)
	}
	for j := uint64(0); j < n; j++ {
		if j > 0 {
			out = append(out, ';')
		}
		if out, err = decString(br, out, scratch); err != nil {
			return out, err
		}
	}
	return out, nil
}

func fixed(br *bufio.Reader, size int, scratch *[]byte) (uint64, error) {
	b := (*scratch)[:size]
	if _, err := io.ReadFull(br, b); err != nil {
		return 0, err
	}
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:]), nil
}

func decUint(size int) cellDecoder {
	return func(br *bufio.Reader, out []byte, scratch *[]byte) ([]byte, error) {
		v, err := fixed(br, size, scratch)
		return strconv.AppendUint(out, v, 10), err
	}
}

func decInt(size int) cellDecoder {
	return func(br *bufio.Reader, out []byte, scratch *[]byte) ([]byte, error) {
		v, err := fixed(br, size, scratch)
		if size == 4 {
			return strconv.AppendInt(out, int64(int32(uint32(v))), 10), err
		}
		return strconv.AppendInt(out, int64(v), 10), err
	}
}

func decFloat(br *bufio.Reader, out []byte, scratch *[]byte) ([]byte, error) {
	v, err := fixed(br, 8, scratch)
	return strconv.AppendFloat(out, math.Float64frombits(v), 'f', -1, 64), err
}

// decTime renders epoch microseconds in the events' time format, empty for 0 (formatter's rule).
func decTime(br *bufio.Reader, out []byte, scratch *[]byte) ([]byte, error) {
	v, err := fixed(br, 8, scratch)
	if err != nil || v == 0 {
		return out, err
	}
	return append(out, schemas.FormatTime(time.UnixMicro(int64(v)))...), nil
}

// streamHTTP reads sql's rows in RowBinary: each row's cells are rendered into one buffer and handed over
// as substrings of one string (one allocation per row).
func (db *DB) streamHTTP(ctx context.Context, sql string, names []string, decs []cellDecoder, cols func([]string) error, row func([]string) error) error {
	body, err := db.httpGet(ctx, sql+"\nFORMAT RowBinary", sql)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := cols(names); err != nil {
		return err
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(body)
	defer func() { br.Reset(nil); readers.Put(br) }()
	rec := make([]string, len(names))
	ends := make([]int, len(names))
	scratch := make([]byte, 8)
	var buf []byte
	for n := 0; ; n++ {
		if _, err := br.Peek(1); err == io.EOF {
			return nil
		}
		buf = buf[:0]
		for i, dec := range decs {
			if buf, err = dec(br, buf, &scratch); err != nil {
				return fmt.Errorf("query: ClickHouse HTTP at %s: row %d, column %s is not RowBinary (%v): the query failed while streaming; rerun, and see ClickHouse's log (in: %s…)",
					db.cfg.HTTPAddr, n, names[i], err, strings.SplitN(sql, "\n", 2)[0])
			}
			ends[i] = len(buf)
		}
		s, at := string(buf), 0
		for i, e := range ends {
			rec[i], at = s[at:e], e
		}
		if err := row(rec); err != nil {
			return err
		}
	}
}
