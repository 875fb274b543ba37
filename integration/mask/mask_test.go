// Package mask_test runs internal/mask against the bytes a real PostgreSQL 15 server sends: simple and
// extended protocol, text and binary formats, COPY in text, CSV and binary, errors, notices and
// notifications. Each test uses its own connection and temporary tables, so packages run concurrently.
package mask_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/mask"
)

// PANs of several brands, all Luhn-valid test numbers.
var pans = []string{"4111111111111111", "5500000000000004", "5555555555554444", "378282246310005", "6011000990139424", "3530111333300000"}

// raw is a hijacked connection from which backend messages are read as raw frames.
type raw struct {
	t  *testing.T
	c  *pgconn.HijackedConn
	r  *bufio.Reader
	fe *pgproto3.Frontend
}

func dial(t *testing.T) *raw {
	t.Helper()
	dsn := stack.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pc, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v; start the stack with: go tool task up", err)
	}
	hc, err := pc.Hijack()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hc.Conn.Close() })
	_ = hc.Conn.SetDeadline(time.Now().Add(60 * time.Second))
	return &raw{t: t, c: hc, r: bufio.NewReader(hc.Conn), fe: hc.Frontend}
}

func (r *raw) send(msgs ...pgproto3.FrontendMessage) {
	r.t.Helper()
	var buf []byte
	for _, m := range msgs {
		var err error
		if buf, err = m.Encode(buf); err != nil {
			r.t.Fatal(err)
		}
	}
	if _, err := r.c.Conn.Write(buf); err != nil {
		r.t.Fatal(err)
	}
}

type frame struct {
	typ  byte
	body []byte
}

// until reads raw frames up to and including ReadyForQuery.
func (r *raw) until() []frame {
	r.t.Helper()
	var out []frame
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
			r.t.Fatalf("read: %v", err)
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[1:])-4)
		if _, err := io.ReadFull(r.r, body); err != nil {
			r.t.Fatalf("read: %v", err)
		}
		out = append(out, frame{hdr[0], body})
		if hdr[0] == 'Z' {
			return out
		}
	}
}

// exec runs a simple query and returns its frames.
func (r *raw) exec(sql string) []frame {
	r.t.Helper()
	r.send(&pgproto3.Query{String: sql})
	return r.until()
}

func newMasker(t *testing.T, cfg mask.Config) *mask.Masker {
	m, err := mask.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// relay passes frames through the stream like the gateway does and checks that no PAN of the test set
// is left in any message body, grouped or not.
func relay(t *testing.T, s *mask.Stream, frames []frame) int {
	t.Helper()
	n := 0
	for _, f := range frames {
		l := len(f.body)
		n += s.Message(f.typ, f.body)
		if len(f.body) != l {
			t.Fatalf("%c: length changed", f.typ)
		}
		flat := strings.NewReplacer(" ", "", "-", "").Replace(string(f.body))
		for _, p := range pans {
			if strings.Contains(flat, p) {
				t.Errorf("%c message still holds %s: %q", f.typ, p, f.body)
			}
		}
	}
	return n
}

const setup = `
CREATE TEMP TABLE cards (id int, pan text, n int8, num numeric(19,0), j jsonb, arr int8[], f float8, note varchar, secret text);
INSERT INTO cards VALUES
 (1, '4111111111111111', 5555555555554444, 378282246310005, '{"pan":"6011000990139424"}', '{1,3530111333300000}', 4111111111111111, 'card 5500 0000 0000 0004 ok', 'tok_1234'),
 (2, 'none', 1, 2.5, '{}', '{}', 1.5, 'paid with 6011-0009-9013-9424', NULL);`

func TestSimpleQueryText(t *testing.T) {
	r := dial(t)
	r.exec(setup)
	m := newMasker(t, mask.Config{Columns: []string{"cards.secret"}})
	oid := tableOID(t, r, "cards")
	s := m.NewStream(catalog{oid: "pg_temp.cards"})
	n := relay(t, s, r.exec("SELECT * FROM cards ORDER BY id"))
	if n != 9 {
		t.Errorf("masked %d values, want 9 (counts %v)", n, s.Counts())
	}
	c := s.Counts()
	if c["pan"] != 1 || c["n"] != 1 || c["num"] != 1 || c["j"] != 1 || c["arr"] != 1 || c["f"] != 1 || c["note"] != 2 || c["secret"] != 1 {
		t.Errorf("counts %v", c)
	}
	sm := s.Sample()
	if len(sm.Rows) != 2 || sm.Rows[0][8] != "***_****" {
		t.Errorf("sample %q", sm.Rows)
	}
	// The sample is stored: no card number may be read out of it, not even across neighbouring values.
	var digits []byte
	for _, row := range sm.Rows {
		for _, v := range row {
			for _, c := range []byte(v) {
				if c >= '0' && c <= '9' {
					digits = append(digits, c-'0')
				}
			}
		}
	}
	for a := 0; a+12 <= len(digits); a++ {
		for b := a + 12; b <= len(digits) && b-a <= 19; b++ {
			if w := digits[a:b]; w[0] >= 3 && w[0] <= 6 && luhnOK(w) && wholePAN(w) {
				t.Fatalf("a card number can be read out of the stored sample %q", sm.Rows)
			}
		}
	}
}

// luhnOK is the Luhn check on digit values.
func luhnOK(d []byte) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i])
		if (len(d)-1-i)%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// wholePAN says whether d is one of the card numbers this file inserts (a window of the stored sample
// that equals one of them is a leak; other Luhn-valid windows are chance).
func wholePAN(d []byte) bool {
	var b strings.Builder
	for _, v := range d {
		b.WriteByte('0' + v)
	}
	switch b.String() {
	case "4111111111111111", "5555555555554444", "378282246310005", "6011000990139424", "3530111333300000", "5500000000000004":
		return true
	}
	return false
}

// maskedNumber checks a masked card number held in a number column: it keeps the first six and the last
// four digits, differs from the original and fails the Luhn check (so it can never equal a real PAN).
func maskedNumber(t *testing.T, what string, got, orig int64) {
	t.Helper()
	g, o := []byte(fmtInt(got)), []byte(fmtInt(orig))
	d := make([]byte, len(g))
	for i, c := range g {
		d[i] = c - '0'
	}
	if len(g) != len(o) || string(g[:6]) != string(o[:6]) || string(g[len(g)-4:]) != string(o[len(o)-4:]) || got == orig || luhnOK(d) {
		t.Errorf("%s: masked %d from %d; want first six and last four kept, the middle hidden, Luhn failing", what, got, orig)
	}
}

func fmtInt(v int64) string {
	var b []byte
	for v > 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	return string(b)
}

// TestExtendedBinary: Parse/Bind with binary results for every column, Describe of the statement (format
// 0 in the RowDescription) and then SetRowDescription with Bind's formats, as a caching driver does.
func TestExtendedBinary(t *testing.T) {
	r := dial(t)
	r.exec(setup)
	m := newMasker(t, mask.Config{})
	s := m.NewStream(nil)
	r.send(&pgproto3.Parse{Name: "s1", Query: "SELECT pan, n, num, j, arr, f, note FROM cards ORDER BY id"},
		&pgproto3.Describe{ObjectType: 'S', Name: "s1"}, &pgproto3.Sync{})
	var desc []byte
	for _, f := range r.until() {
		s.Message(f.typ, f.body)
		if f.typ == 'T' {
			desc = append([]byte(nil), f.body...)
		}
	}
	if desc == nil {
		t.Fatal("no RowDescription")
	}
	formats := []int16{1}
	r.send(&pgproto3.Bind{PreparedStatement: "s1", ResultFormatCodes: formats}, &pgproto3.Execute{}, &pgproto3.Sync{})
	frames := r.until()
	s.Reset()
	s.SetRowDescription(desc, formats)
	relay(t, s, frames)
	tm := pgtype.NewMap()
	var rows [][][]byte
	for _, f := range frames {
		if f.typ == 'D' {
			var dr pgproto3.DataRow
			if err := dr.Decode(f.body); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, dr.Values)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	var (
		str string
		i8  int64
		num pgtype.Numeric
		js  map[string]any
		arr []int64
		f8  float64
	)
	scan := func(i int, oid uint32, dst any) {
		t.Helper()
		if err := tm.Scan(oid, pgtype.BinaryFormatCode, rows[0][i], dst); err != nil {
			t.Fatalf("column %d no longer decodes: %v", i, err)
		}
	}
	scan(0, pgtype.TextOID, &str)
	scan(1, pgtype.Int8OID, &i8)
	scan(2, pgtype.NumericOID, &num)
	scan(3, pgtype.JSONBOID, &js)
	scan(4, pgtype.Int8ArrayOID, &arr)
	scan(5, pgtype.Float8OID, &f8)
	iv, _ := num.Int64Value()
	if str != "411111******1111" {
		t.Errorf("text %q", str)
	}
	if i8 != 5555550000004444 {
		t.Errorf("int8 %d", i8)
	}
	if iv.Int64 != 378282000000005 {
		t.Errorf("numeric %v", iv.Int64)
	}
	if js["pan"] != "601100******9424" {
		t.Errorf("jsonb %v", js)
	}
	if len(arr) != 2 || arr[0] != 1 {
		t.Errorf("int8[] %v", arr)
	} else {
		maskedNumber(t, "int8[]", arr[1], 3530111333300000)
	}
	if f8 != 4111110000001111 {
		t.Errorf("float8 %v", f8)
	}
}

func TestCopyFormats(t *testing.T) {
	r := dial(t)
	r.exec(setup)
	m := newMasker(t, mask.Config{})
	for _, q := range []string{
		"COPY cards TO STDOUT",
		"COPY cards TO STDOUT (FORMAT csv, HEADER)",
		"COPY (SELECT pan, note, j FROM cards) TO STDOUT (FORMAT binary)",
	} {
		s := m.NewStream(nil)
		frames := r.exec(q)
		n := relay(t, s, frames)
		if n < 4 || s.Counts()[mask.CountCopy] != n {
			t.Errorf("%s: masked %d (counts %v)", q, n, s.Counts())
		}
	}
}

// TestByteaHex: bytea's default text output is hex; a PAN stored as bytes shows up as "3d" pairs.
func TestByteaHex(t *testing.T) {
	r := dial(t)
	m := newMasker(t, mask.Config{})
	s := m.NewStream(nil)
	frames := r.exec(`SELECT convert_to('card 4111111111111111 ok', 'UTF8') AS b, encode('5500000000000004'::bytea, 'hex') AS h`)
	if n := relay(t, s, frames); n != 2 {
		t.Errorf("masked %d, want 2", n)
	}
	for _, f := range frames {
		if f.typ != 'D' {
			continue
		}
		var dr pgproto3.DataRow
		if err := dr.Decode(f.body); err != nil {
			t.Fatal(err)
		}
		b, err := hex.DecodeString(strings.TrimPrefix(string(dr.Values[0]), `\x`))
		if err != nil || string(b) != "card 411111******1111 ok" {
			t.Errorf("bytea %q decodes to %q (%v)", dr.Values[0], b, err)
		}
		for _, p := range pans {
			if strings.Contains(string(dr.Values[1]), hex.EncodeToString([]byte(p))) {
				t.Errorf("hex text still holds %s", p)
			}
		}
	}
}

func TestErrorsNoticesNotifications(t *testing.T) {
	r := dial(t)
	m := newMasker(t, mask.Config{})
	s := m.NewStream(nil)
	if n := relay(t, s, r.exec("SELECT '4111111111111111x'::int")); n != 1 {
		t.Errorf("error: masked %d", n)
	}
	if n := relay(t, s, r.exec("DO $$ BEGIN RAISE NOTICE 'card %', '5500 0000 0000 0004' USING DETAIL = '378282246310005'; END $$")); n != 2 {
		t.Errorf("notice: masked %d", n)
	}
	r.exec("LISTEN pangate_mask")
	if n := relay(t, s, r.exec("NOTIFY pangate_mask, '{\"pan\":\"6011000990139424\"}'")); n != 1 {
		t.Errorf("notification: masked %d", n)
	}
	if n := relay(t, s, r.exec("SET application_name = '3530111333300000'")); n != 1 {
		t.Errorf("parameter status: masked %d", n)
	}
	if n := relay(t, s, r.exec(`SELECT 1 AS "4111111111111111"`)); n != 1 {
		t.Errorf("column alias: masked %d", n)
	}
	c := s.Counts()
	if c[mask.CountError] != 1 || c[mask.CountNotice] != 2 || c[mask.CountNotification] != 1 || c[mask.CountParameter] != 1 || c[mask.CountRowDescription] != 1 {
		t.Errorf("counts %v", c)
	}
}

// catalog resolves every column of one table OID through pg_attribute names gathered at setup.
type catalog map[uint32]string

var cardColumns = []string{"", "id", "pan", "n", "num", "j", "arr", "f", "note", "secret"}

func (c catalog) Column(oid uint32, att uint16) (string, string, bool) {
	t, ok := c[oid]
	if !ok || int(att) >= len(cardColumns) || att == 0 {
		return "", "", false
	}
	return t, cardColumns[att], true
}

func tableOID(t *testing.T, r *raw, name string) uint32 {
	t.Helper()
	for _, f := range r.exec("SELECT '" + name + "'::regclass::oid") {
		if f.typ == 'D' {
			var dr pgproto3.DataRow
			if err := dr.Decode(f.body); err != nil {
				t.Fatal(err)
			}
			var v uint32
			for _, c := range dr.Values[0] {
				v = v*10 + uint32(c-'0')
			}
			return v
		}
	}
	t.Fatal("no oid")
	return 0
}
