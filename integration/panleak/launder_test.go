package panleak_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// Content scanning of untagged values (issue 12, items 1, 3 and 4): PANs whose hidden digits are zeros
// (zero-filling returned them unchanged), PANs in ranges, multiranges, composites and money, and PANs
// written in fullwidth digits or with zero-width and non-breaking spaces. The values come from column
// "v" of the test's own table, which no tag or pattern names, so only content scanning protects them;
// the SQL text holds no PAN. Checked: the client's bytes and decoded values, every Kafka record and the
// gateway log, with digits of any script read as ASCII and invisible characters dropped.

// launderPANs have zero, nine or repeated hidden digits, across brands and lengths.
var launderPANs = []string{
	"4000000000000002",    // visa 16, zero middle
	"5500000000000004",    // mastercard, zero middle
	"6011000000000004",    // discover, zero middle
	"3530111333300000",    // jcb, ends in zeros
	"4000000000000000006", // visa 19, zero middle
	"30000000000004",      // diners 14, zero middle
	"4999999999999996",    // visa 16, nine middle
	"4111111111111111",    // repeated middle
}

var launderCorpus = []attempt{
	// numbers whose hidden digits are zeros: zero-filling gave them back unchanged
	{name: "zero middle int8", sql: `SELECT v::int8 FROM {t} ORDER BY id`, rows: all},
	{name: "zero middle numeric", sql: `SELECT v::numeric FROM {t} ORDER BY id`, rows: all},
	{name: "zero middle numeric scale", sql: `SELECT v::numeric(30,2) FROM {t} ORDER BY id`, rows: all},
	{name: "zero middle json number", sql: `SELECT to_json(v::int8) FROM {t} ORDER BY id`, rows: all},
	{name: "zero middle jsonb object", sql: `SELECT jsonb_build_object('n', v::numeric) FROM {t} ORDER BY id`, rows: all},
	{name: "zero middle json_agg", sql: `SELECT json_agg(v::int8 ORDER BY id) FROM {t}`, rows: 1},
	{name: "zero middle int8 array", sql: `SELECT array_agg(v::int8 ORDER BY id) FROM {t}`, rows: 1},
	{name: "zero middle float8", sql: `SELECT v::float8 FROM {t} WHERE length(v) <= 16 ORDER BY id`, rows: 7},
	// ranges and multiranges, and arrays of them (bounds are the PAN itself: PAN+1 as the other bound is
	// arithmetic over the value, which only lineage can judge)
	{name: "int8range", sql: `SELECT int8range(v::int8, NULL) FROM {t} ORDER BY id`, rows: all},
	{name: "int8range upper", sql: `SELECT int8range(NULL, v::int8) FROM {t} ORDER BY id`, rows: all},
	{name: "numrange", sql: `SELECT numrange(v::numeric, NULL, '[]') FROM {t} ORDER BY id`, rows: all},
	{name: "int8range text", sql: `SELECT int8range(v::int8, NULL)::text FROM {t} ORDER BY id`, rows: all},
	{name: "int8multirange", sql: `SELECT int8multirange(int8range(1, 2), int8range(v::int8, NULL)) FROM {t} ORDER BY id`, rows: all},
	{name: "nummultirange", sql: `SELECT nummultirange(numrange(NULL, v::numeric, '(]')) FROM {t} ORDER BY id`, rows: all},
	{name: "int8range array", sql: `SELECT array_agg(int8range(NULL, v::int8) ORDER BY id) FROM {t}`, rows: 1},
	// money: the PAN as whole units (stored ×100) and as cents
	{name: "money units", sql: `SELECT v::numeric::money FROM {t} WHERE length(v) <= 16 ORDER BY id`, rows: 7},
	{name: "money cents", sql: `SELECT (v::numeric / 100)::money FROM {t} WHERE length(v) <= 16 ORDER BY id`, rows: 7},
	// composites
	{name: "record int8", sql: `SELECT ROW(id, v::int8) FROM {t} ORDER BY id`, rows: all},
	{name: "record nested numeric", sql: `SELECT ROW(id, ROW(v::numeric, 'x')) FROM {t} ORDER BY id`, rows: all},
	{name: "record of range", sql: `SELECT ROW(int8range(v::int8, NULL)) FROM {t} ORDER BY id`, rows: all},
	// Unicode digits and separators in text
	{name: "fullwidth digits", sql: `SELECT translate(v, '0123456789', '０１２３４５６７８９') FROM {t} ORDER BY id`, rows: all},
	{name: "arabic-indic digits", sql: `SELECT translate(v, '0123456789', '٠١٢٣٤٥٦٧٨٩') FROM {t} ORDER BY id`, rows: all},
	{name: "zero-width separators", sql: `SELECT regexp_replace(v, '(\d{4})', '\1' || chr(8203), 'g') FROM {t} ORDER BY id`, rows: all},
	{name: "word joiner between digits", sql: `SELECT regexp_replace(v, '(\d)', '\1' || chr(8288), 'g') FROM {t} ORDER BY id`, rows: all},
	{name: "nbsp groups", sql: `SELECT regexp_replace(v, '(\d{4})(?!$)', '\1' || chr(160), 'g') FROM {t} ORDER BY id`, rows: all},
	{name: "fullwidth in error", kind: kError, code: "22P02", sql: `SELECT (SELECT translate(v, '0123456789', '０１２３４５６７８９') FROM {t} WHERE id = 1)::int8`},
}

// launderTable creates the test's own table of launderPANs in column v (no tag, no pattern matches it).
func launderTable(t *testing.T, f *fixture) string {
	t.Helper()
	table := stack.UniqueName(t, "h3launder")
	ctx := context.Background()
	var vals []string
	for i, p := range launderPANs {
		vals = append(vals, fmt.Sprintf("(%d, '%s')", i+1, p))
	}
	for _, q := range []string{
		fmt.Sprintf(`CREATE TABLE %s (id int PRIMARY KEY, v text NOT NULL)`, table),
		fmt.Sprintf(`INSERT INTO %s VALUES %s`, table, strings.Join(vals, ", ")),
		fmt.Sprintf(`GRANT SELECT ON %s TO %s`, table, f.Role),
	} {
		if _, err := f.admin.Exec(ctx, q); err != nil {
			t.Fatalf("launder fixture: %v", err) // the statement holds PANs: not printed
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = f.admin.Exec(ctx, `DROP TABLE IF EXISTS `+table)
	})
	return table
}

// normalise reads digits of any script as ASCII digits and drops invisible format characters, so that
// the detector sees "４０００…" or "4000\u200b0000…" as the PAN they show.
func normalise(s string) []byte {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case unicode.Is(unicode.Nd, r):
			b.WriteByte(byte('0' + digitOf(r)))
		case unicode.Is(unicode.Cf, r):
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return []byte(b.String())
}

// digitOf is the decimal value of a Unicode digit: its distance from the block's zero, found by walking
// down while the previous code point is still a digit (blocks hold ten digits from zero).
func digitOf(r rune) int {
	z := r
	for z > 0 && unicode.Is(unicode.Nd, z-1) && r-z < 9 {
		z--
	}
	return int(r-z) % 10
}

// moneyPatterns are the binary money forms of the PANs: units × 100 and the PAN as cents.
func moneyPatterns(d *detector) {
	for _, p := range launderPANs {
		n, ok := new(big.Int).SetString(p, 10)
		if !ok || len(p) > 16 {
			continue
		}
		u := n.Uint64()
		d.pats = append(d.pats, pattern{pan: p, kind: "binary money units", b: binary.BigEndian.AppendUint64(nil, u*100)})
	}
}

// TestPANLaunderContentScanning runs launderCorpus through the real gateway with pgx, text results (simple
// protocol) and binary results (prepared statements asking binary for every column).
func TestPANLaunderContentScanning(t *testing.T) {
	f := newFixture(t)
	lt := launderTable(t, f)
	g := startGateway(t, f)
	det := newDetector(launderPANs)
	moneyPatterns(det)
	lf := &fixture{Table: lt, Role: f.Role, PANs: launderPANs, admin: f.admin}
	sessions, ran := 0, 0
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		cl := connect(t, g, f, mode)
		sessions++
		for _, a := range launderCorpus {
			for _, bin := range []bool{false, true} {
				if bin && (mode == pgx.QueryExecModeSimpleProtocol || a.kind != kQuery) {
					continue
				}
				a.binary = bin
				name := mode.String() + "/" + a.name
				if bin {
					name += " binary"
				}
				t.Run(name, func(t *testing.T) {
					cl.rec.take()
					decoded := a.run(t, lf, cl)
					raw := cl.rec.take()
					checkClient(t, lf, det, a, raw, decoded)
					for _, fd := range append(det.scan("client bytes, Unicode read as ASCII", normalise(string(raw))),
						det.scan("decoded values, Unicode read as ASCII", normalise(decoded))...) {
						t.Errorf("LEAK %s", fd)
					}
				})
				ran++
			}
		}
		if err := cl.c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d attempts ran", ran)
	raws, evs := g.records(t, sessions)
	queries := 0
	for i, raw := range raws {
		where := fmt.Sprintf("Kafka record %d (%s seq %d)", i, evs[i].Type, evs[i].Seq)
		for _, fd := range append(det.scan(where, raw), det.scan(where+", Unicode read as ASCII", normalise(string(raw)))...) {
			t.Errorf("LEAK %s: %s", fd, redact(string(raw), launderPANs))
		}
		if evs[i].Type == schemas.TypeQueryExecuted {
			queries++
		}
	}
	if queries < ran {
		t.Errorf("%d query.executed events for %d attempts: statements were not recorded", queries, ran)
	}
	g.Stop()
	for i, l := range g.Logs() {
		for _, fd := range append(det.scan(fmt.Sprintf("gateway log line %d", i), []byte(l)), det.scan("gateway log, Unicode read as ASCII", normalise(l))...) {
			t.Errorf("LEAK %s: %s", fd, redact(l, launderPANs))
		}
	}
	t.Logf("%d Kafka records (%d query.executed) and %d log lines scanned", len(raws), queries, len(g.Logs()))
}
