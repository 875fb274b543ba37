package proxy

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/schemas"
)

// TestCopyTarget: the target of COPY … TO comes from PostgreSQL's parser (classify), not a hand-written
// reader: quoted names, schema qualification, odd spacing and comments are what the server reads.
func TestCopyTarget(t *testing.T) {
	for _, tc := range []struct {
		sql   string
		table string
		cols  []string
	}{
		{"COPY cards TO STDOUT", "cards", nil},
		{"copy public.cards (pan, id) to stdout with (format csv)", "public.cards", []string{"pan", "id"}},
		{`COPY "Cards" ("PAN","x""y") TO STDOUT`, "Cards", []string{"PAN", `x"y`}},
		{"COPY\n\tcards(pan)\nTO STDOUT", "cards", []string{"pan"}},
		{"COPY /* c */ cards (/* d */ pan) TO STDOUT", "cards", []string{"pan"}},
		{"COPY (SELECT pan FROM cards) TO STDOUT", "", nil},
		{"COPY cards FROM STDIN", "", nil},
	} {
		cls := classify.Classify(tc.sql)
		if len(cls) != 1 {
			t.Fatalf("%q: %d statements", tc.sql, len(cls))
		}
		if c := cls[0]; c.CopyTable != tc.table || !reflect.DeepEqual(c.CopyColumns, tc.cols) {
			t.Errorf("%q: copy target %q %q, want %q %q", tc.sql, c.CopyTable, c.CopyColumns, tc.table, tc.cols)
		}
	}
}

// fakeCatalog knows table columns by name (no OIDs).
type fakeCatalog map[string][]string

func (fakeCatalog) Column(uint32, uint16) (string, string, bool) { return "", "", false }
func (c fakeCatalog) TableColumns(table string) ([]string, bool) {
	cols, ok := c[table]
	return cols, ok
}

// catalogHarness is a harness whose masker tags cfg's columns and whose target has cat as its catalog.
func catalogHarness(t *testing.T, cfg mask.Config, cardholderTables []string, cat fakeCatalog) *harness {
	t.Helper()
	h := newHarness(t)
	m, err := mask.New(cfg)
	must(t, err)
	h.srv.deps.Masker = m
	h.srv.cfg.cardholderTables = map[string]struct{}{}
	for _, tb := range cardholderTables {
		h.srv.cfg.cardholderTables[tb] = struct{}{}
	}
	h.srv.targets["t"].Catalog = func(string) mask.Catalog { return cat }
	return h
}

// TestCardholderFlag: statement.cardholder is set when a bare "*" or an unqualified column may come from a
// tagged table, and for a whole-table COPY of a table with a tagged column (explicit tag or a pattern
// matched through the catalog); untagged tables stay false.
func TestCardholderFlag(t *testing.T) {
	cat := fakeCatalog{"cards": {"id", "pan", "expiry"}, "orders": {"id", "total"}, "merchants": {"id", "name"}, "vault": {"id", "card_number"}}
	for _, tc := range []struct {
		name   string
		cfg    mask.Config
		tables []string
		sql    string
		want   bool
	}{
		{"subquery star", mask.Config{Columns: []string{"cards.pan"}}, []string{"cards"}, "SELECT * FROM (SELECT * FROM cards) s", true},
		{"bare star over a subquery", mask.Config{Columns: []string{"cards.pan"}}, []string{"cards"}, "SELECT * FROM (SELECT id FROM cards) s", true},
		{"subquery column", mask.Config{Columns: []string{"cards.pan"}}, []string{"cards"}, "SELECT * FROM (SELECT pan FROM cards) s", true},
		{"unqualified in join", mask.Config{Columns: []string{"cards.pan"}}, []string{"cards"}, "SELECT pan FROM cards, orders", true},
		{"copy whole table, tag", mask.Config{Columns: []string{"cards.pan"}}, []string{"cards"}, "COPY cards TO STDOUT", true},
		{"copy whole table, pattern via catalog", mask.Config{ColumnPatterns: []string{"card_*"}}, nil, "COPY vault TO STDOUT", true},
		{"star, pattern via catalog", mask.Config{ColumnPatterns: []string{"card_*"}}, nil, "SELECT * FROM vault", true},
		{"untagged star", mask.Config{Columns: []string{"cards.pan"}}, []string{"cards"}, "SELECT * FROM (SELECT * FROM merchants) s", false},
		{"untagged unqualified", mask.Config{Columns: []string{"cards.pan"}}, []string{"cards"}, "SELECT total FROM orders, merchants", false},
		{"untagged copy", mask.Config{ColumnPatterns: []string{"card_*"}}, nil, "COPY merchants TO STDOUT", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := catalogHarness(t, tc.cfg, tc.tables, cat)
			fe, c, _ := h.client(t, "good")
			untilReady(t, fe)
			_, err := c.Write(queryFrame(tc.sql))
			must(t, err)
			for {
				msg, err := fe.Receive()
				must(t, err)
				if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
					break
				}
			}
			var got *schemas.Statement
			for _, e := range h.events(t, 4) {
				if e.Type == schemas.TypeQueryExecuted {
					var qe schemas.QueryExecuted
					must(t, e.Decode(&qe))
					got = &qe.Statement
				}
			}
			if got == nil {
				t.Fatal("no query.executed")
			}
			if got.Cardholder != tc.want {
				t.Fatalf("%q: cardholder %v, want %v (columns %v, tables %v)", tc.sql, got.Cardholder, tc.want, got.Columns, got.Tables)
			}
		})
	}
}

// TestCopyTaggedColumnsMaskedWhole: in COPY … TO of a table, a tagged column is masked whatever its content
// (here a Luhn-invalid number content scanning lets through), for a column list and for a whole table
// (columns from the catalog); other columns pass unchanged.
func TestCopyTaggedColumnsMaskedWhole(t *testing.T) {
	for _, sql := range []string{"COPY cards (id, pan) TO STDOUT", "COPY cards TO STDOUT"} {
		t.Run(sql, func(t *testing.T) {
			h := catalogHarness(t, mask.Config{Columns: []string{"cards.pan"}}, []string{"cards"}, fakeCatalog{"cards": {"id", "pan"}})
			fe, c, _ := h.client(t, "good")
			untilReady(t, fe)
			_, err := c.Write(queryFrame(sql))
			must(t, err)
			var data string
			for {
				msg, err := fe.Receive()
				must(t, err)
				if d, ok := msg.(*pgproto3.CopyData); ok {
					data += string(d.Data)
				}
				if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
					break
				}
			}
			id, pan, ok := strings.Cut(strings.TrimSuffix(data, "\n"), "\t")
			if !ok || id != "7" || len(pan) != 16 || pan == "4111111111111112" || strings.Count(pan, "1") > 10 {
				t.Fatalf("COPY data %q: want id 7 and the tagged pan masked whole", data)
			}
		})
	}
}

// TestBinaryParamMaskedInEvent: a binary int8 bind parameter holding a PAN is masked in the event's
// params (Masker.Text cannot see it in hex).
func TestBinaryParamMaskedInEvent(t *testing.T) {
	h := newHarness(t)
	fe, _, _ := h.client(t, "good")
	untilReady(t, fe)
	fe.SendParse(&pgproto3.Parse{Name: "q", Query: "SELECT pan FROM cards WHERE pan_num = $1", ParameterOIDs: []uint32{20}})
	fe.SendParse(&pgproto3.Parse{Name: "u", Query: "SELECT pan FROM cards WHERE pan_num = $1"})
	for _, stmt := range []string{"q", "u"} {
		fe.SendBind(&pgproto3.Bind{PreparedStatement: stmt, ParameterFormatCodes: []int16{1}, Parameters: [][]byte{int8Bytes(panInt8)}})
		fe.SendExecute(&pgproto3.Execute{})
	}
	fe.SendSync(&pgproto3.Sync{})
	must(t, fe.Flush())
	untilReady(t, fe)
	n := 0
	for _, e := range h.events(t, 5) {
		if e.Type != schemas.TypeQueryExecuted {
			continue
		}
		var qe schemas.QueryExecuted
		must(t, e.Decode(&qe))
		n++
		if len(qe.Statement.Params) != 1 {
			t.Fatalf("params %q", qe.Statement.Params)
		}
		p := qe.Statement.Params[0]
		if strings.Contains(p, "4111111111111111") || strings.Contains(p, hex.EncodeToString(int8Bytes(panInt8))) {
			t.Fatalf("binary PAN parameter recorded in the clear: %q", p)
		}
	}
	if n != 2 {
		t.Fatalf("%d query.executed, want 2", n)
	}
}
