package build

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/query"
)

func testPkg(t *testing.T, pageRows int) *pkg {
	t.Helper()
	m, err := mask.New(mask.Config{Shape: mask.ShapeFirst6Last4})
	if err != nil {
		t.Fatal(err)
	}
	w, err := manifest.NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &pkg{b: &Builder{masker: m, cfg: Config{PageRows: pageRows}}, w: w}
}

// feed hands t's rows to c as StreamRows does: header first, then each row in one reused slice.
func feed(t *testing.T, c *csvFile, tb *query.Table) {
	t.Helper()
	if err := c.header(tb.Columns); err != nil {
		t.Fatal(err)
	}
	buf := make([]string, len(tb.Columns))
	for _, r := range tb.Rows {
		copy(buf, r)
		if err := c.row(buf); err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = "reused"
		}
	}
}

// TestStreamedCSVEqualsCSVBytes: a population streamed row by row into the package (masked as read) is
// byte for byte the CSV the whole-table path wrote (maskTable, then csvBytes), so its manifest entry
// (SHA-256, size, rows) is unchanged by streaming (issue 16), and as many card numbers are counted masked.
func TestStreamedCSVEqualsCSVBytes(t *testing.T) {
	tricky := &query.Table{Columns: []string{"ts", "event_id", "sql", "detail", "rows", "tables"}, Rows: [][]string{
		{"2026-10-01T00:00:00.000001Z", "01a21cac-2204-7665-aac2-613163876399", "SELECT 1", "", "0", ""},
		{"", "e2", "SELECT '4111111111111111', \"quoted\"", "line one\nline two", "12", "a;b"},
		{"", "e3", " leading space", "comma, and \"quotes\"", "1", "t"},
		{"", "e4", "carriage\r\nreturn", "5500-0000-0000-0004 and 4111 1111 1111 1111", "2", ""},
		{"", "e5", "", "\"", "3", "x"},
	}}
	var big query.Table
	big.Columns = []string{"ts", "session", "sql"}
	for i := 0; i < 5000; i++ {
		big.Rows = append(big.Rows, []string{fmt.Sprint(i), fmt.Sprintf("s%04d", i%97), fmt.Sprintf("SELECT * FROM t WHERE id = %d -- 4111111111111111", i)})
	}
	for _, tc := range []struct {
		name string
		t    *query.Table
	}{{"tricky", tricky}, {"empty", &query.Table{Columns: []string{"ts", "sql"}}}, {"5000 rows", &big}} {
		t.Run(tc.name, func(t *testing.T) {
			// The old path, on a copy.
			old := testPkg(t, 10)
			ot := &query.Table{Columns: tc.t.Columns}
			for _, r := range tc.t.Rows {
				ot.Rows = append(ot.Rows, slices.Clone(r))
			}
			old.maskTable(ot)
			want := csvBytes(ot)
			if err := old.w.Add("populations/p.csv", want, manifest.File{Rows: int64(len(ot.Rows))}); err != nil {
				t.Fatal(err)
			}

			p := testPkg(t, 10)
			c, err := p.createCSV("populations/p.csv", 10, query.JudgeRows)
			if err != nil {
				t.Fatal(err)
			}
			feed(t, c, tc.t)
			if err := c.close(manifest.File{Rows: c.rows}); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(p.w.Dir(), "populations", "p.csv"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("streamed CSV differs from csvBytes:\n%q\nwant\n%q", got, want)
			}
			sum := sha256.Sum256(want)
			ge, we := p.w.Files()[0], old.w.Files()[0]
			if ge.SHA256 != hex.EncodeToString(sum[:]) || ge.SHA256 != we.SHA256 || ge.Size != we.Size || ge.Rows != we.Rows {
				t.Fatalf("manifest entry %+v, whole-table path's %+v", ge, we)
			}
			if p.masked != old.masked {
				t.Fatalf("masked %d card numbers streamed, %d whole", p.masked, old.masked)
			}
			if res, why := c.judge.Result(); fmt.Sprint(res, why) != fmt.Sprint(query.JudgeTable(query.JudgeRows(ot.Columns), ot)) {
				t.Fatalf("judge of the streamed rows: %s %s", res, why)
			}
		})
	}
}

// TestCSVFileKeepsOnlyPageRows: the builder keeps at most page_rows rows of a population for the HTML (the
// first ones, masked), while the CSV and the count have them all.
func TestCSVFileKeepsOnlyPageRows(t *testing.T) {
	const pageRows, n = 7, 1234
	p := testPkg(t, pageRows)
	tb := &query.Table{Columns: []string{"ts", "sql"}}
	for i := 0; i < n; i++ {
		tb.Rows = append(tb.Rows, []string{fmt.Sprint(i), fmt.Sprintf("SELECT %d, '4111111111111111'", i)})
	}
	c, err := p.createCSV("populations/big.csv", pageRows, nil)
	if err != nil {
		t.Fatal(err)
	}
	feed(t, c, tb)
	if err := c.close(manifest.File{Rows: c.rows}); err != nil {
		t.Fatal(err)
	}
	page := c.table()
	if len(page.Rows) != pageRows || page.Total != n || c.rows != n {
		t.Fatalf("page keeps %d rows of %d (rows %d), want %d of %d", len(page.Rows), page.Total, c.rows, pageRows, n)
	}
	for i, r := range page.Rows {
		if r[0] != fmt.Sprint(i) || strings.Contains(r[1], "4111111111111111") {
			t.Fatalf("page row %d = %v: want row %d, masked", i, r, i)
		}
	}
	f, err := os.Open(filepath.Join(p.w.Dir(), "populations", "big.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != n+1 || p.w.Files()[0].Rows != n {
		t.Fatalf("CSV has %d records (with header), manifest rows %d, want %d rows", len(recs), p.w.Files()[0].Rows, n)
	}
}
