package mask

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

type fakeCatalog map[[2]uint32][2]string

func (f fakeCatalog) Column(oid uint32, att uint16) (string, string, bool) {
	v, ok := f[[2]uint32{oid, uint32(att)}]
	return v[0], v[1], ok
}

// body encodes a backend message with pgproto3 and returns its type and body.
func body(t testing.TB, msg pgproto3.BackendMessage) (byte, []byte) {
	t.Helper()
	b, err := msg.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b[0], b[5:]
}

type col struct {
	name   string
	oid    uint32
	format int16
	table  uint32
	att    uint16
}

func rowDesc(t testing.TB, cols ...col) []byte {
	var fs []pgproto3.FieldDescription
	for _, c := range cols {
		fs = append(fs, pgproto3.FieldDescription{Name: []byte(c.name), TableOID: c.table, TableAttributeNumber: c.att,
			DataTypeOID: c.oid, DataTypeSize: -1, TypeModifier: -1, Format: c.format})
	}
	_, b := body(t, &pgproto3.RowDescription{Fields: fs})
	return b
}

func dataRow(t testing.TB, vals ...[]byte) []byte {
	_, b := body(t, &pgproto3.DataRow{Values: vals})
	return b
}

var typeMap = pgtype.NewMap()

func encBin(t testing.TB, oid uint32, v any) []byte {
	t.Helper()
	b, err := typeMap.Encode(oid, pgtype.BinaryFormatCode, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeRow splits a DataRow body with pgproto3 (an independent parser).
func decodeRow(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var dr pgproto3.DataRow
	if err := dr.Decode(b); err != nil {
		t.Fatalf("masked DataRow no longer decodes: %v", err)
	}
	return dr.Values
}

func newStream(t testing.TB, cfg Config, cat Catalog) *Stream {
	return newMasker(t, cfg).NewStream(cat)
}

func TestDataRowText(t *testing.T) {
	s := newStream(t, Config{}, nil)
	if n := s.Message('T', rowDesc(t, col{name: "note", oid: oidText}, col{name: "n", oid: oidInt8}, col{name: "doc", oid: oidJSON}, col{name: "amount", oid: oidNumeric})); n != 0 {
		t.Fatalf("T masked %d", n)
	}
	row := dataRow(t, []byte("card 4111 1111 1111 1111"), []byte("4111111111111111"), []byte(`{"pan":"5500-0000-0000-0004","id":12}`), []byte("378282246310005.00"), nil)
	row = dataRow(t, []byte("card 4111 1111 1111 1111"), []byte("4111111111111111"), []byte(`{"pan":"5500-0000-0000-0004","id":12}`), []byte("378282246310005.00"))
	n := s.Message('D', row)
	v := decodeRow(t, row)
	want := []string{"card 4111 11** **** 1111", "4111110000001111", `{"pan":"5500-00**-****-0004","id":12}`, "378282000000005.00"}
	for i := range want {
		if string(v[i]) != want[i] {
			t.Errorf("col %d = %q, want %q", i, v[i], want[i])
		}
	}
	if n != 4 {
		t.Errorf("masked %d, want 4", n)
	}
	c := s.Counts()
	if c["note"] != 1 || c["n"] != 1 || c["doc"] != 1 || c["amount"] != 1 {
		t.Errorf("counts %v", c)
	}
	sm := s.Sample()
	// The sample is stored: digits that, read across neighbouring values, form a Luhn-valid card number
	// are hidden too (samplesplit.go), so a row of masked card numbers loses more digits than the client
	// saw; the shape of each value stays.
	if len(sm.Rows) != 1 || len(sm.Rows[0]) != 4 || len(sm.Rows[0][1]) != 16 || strings.Join(sm.Columns, ",") != "note,n,doc,amount" {
		t.Errorf("sample %+v", sm)
	}
	s.Reset()
	if len(s.Counts()) != 0 || len(s.Sample().Rows) != 0 {
		t.Error("Reset kept counts or sample")
	}
	// the row description survives Reset
	row = dataRow(t, []byte("x"), []byte("5500000000000004"), nil, nil)
	s.Message('D', row)
	// zero-filling returned this PAN unchanged (its hidden digits are zeros): the masked number fails Luhn
	if v := decodeRow(t, row); string(v[1]) != "5500000000010004" {
		t.Errorf("after Reset: %q", v[1])
	}
}

func TestDataRowBinary(t *testing.T) {
	const pan = 4111111111111111
	const masked = 4111110000001111
	s := newStream(t, Config{}, nil)
	s.Message('T', rowDesc(t,
		col{name: "t", oid: oidText, format: 1},
		col{name: "v", oid: oidVarchar, format: 1},
		col{name: "i8", oid: oidInt8, format: 1},
		col{name: "neg", oid: oidInt8, format: 1},
		col{name: "num", oid: oidNumeric, format: 1},
		col{name: "amex", oid: oidNumeric, format: 1},
		col{name: "jb", oid: oidJSONB, format: 1},
		col{name: "f8", oid: oidFloat8, format: 1},
		col{name: "arr", oid: 1016, format: 1},
		col{name: "tarr", oid: 1009, format: 1},
		col{name: "clean", oid: oidInt8, format: 1},
		col{name: "bp", oid: oidBPChar, format: 1},
	))
	num := pgtype.Numeric{Int: big.NewInt(411111111111111100), Exp: -2, Valid: true} // 4111111111111111.00
	amex := pgtype.Numeric{Int: big.NewInt(378282246310005), Exp: 0, Valid: true}
	row := dataRow(t,
		encBin(t, oidText, "pan 4111111111111111"),
		encBin(t, oidVarchar, "6011-0009-9013-9424"),
		encBin(t, oidInt8, int64(pan)),
		encBin(t, oidInt8, int64(-pan)),
		encBin(t, oidNumeric, num),
		encBin(t, oidNumeric, amex),
		encBin(t, oidJSONB, map[string]any{"pan": "5555555555554444"}),
		encBin(t, oidFloat8, float64(5105105105105100)),
		encBin(t, 1016, []int64{1, pan, 2}),
		encBin(t, 1009, []string{"a", "371449635398431"}),
		encBin(t, oidInt8, int64(1234567890123456789)),
		encBin(t, oidBPChar, "3530111333300000"),
	)
	n0 := len(row)
	n := s.Message('D', row)
	if len(row) != n0 {
		t.Fatal("length changed")
	}
	v := decodeRow(t, row)
	var (
		str  string
		i8   int64
		nm   pgtype.Numeric
		f8   float64
		arr  []int64
		tarr []string
		js   map[string]any
	)
	dec := func(i int, oid uint32, dst any) {
		t.Helper()
		if err := typeMap.Scan(oid, pgtype.BinaryFormatCode, v[i], dst); err != nil {
			t.Fatalf("col %d no longer decodes: %v", i, err)
		}
	}
	dec(0, oidText, &str)
	if str != "pan 411111******1111" {
		t.Errorf("text: %q", str)
	}
	dec(1, oidVarchar, &str)
	if str != "6011-00**-****-9424" {
		t.Errorf("varchar: %q", str)
	}
	dec(2, oidInt8, &i8)
	if i8 != masked {
		t.Errorf("int8: %d", i8)
	}
	dec(3, oidInt8, &i8)
	if i8 != -masked {
		t.Errorf("negative int8: %d", i8)
	}
	dec(4, oidNumeric, &nm)
	if f, _ := nm.Float64Value(); f.Float64 != masked {
		t.Errorf("numeric: %v", f.Float64)
	}
	dec(5, oidNumeric, &nm)
	if f, _ := nm.Int64Value(); f.Int64 != 378282000000005 {
		t.Errorf("amex numeric: %v", f.Int64)
	}
	dec(6, oidJSONB, &js)
	if js["pan"] != "555555******4444" {
		t.Errorf("jsonb: %v", js)
	}
	dec(7, oidFloat8, &f8)
	if f8 != 5105100000005100 {
		t.Errorf("float8: %v", f8)
	}
	dec(8, 1016, &arr)
	if len(arr) != 3 || arr[1] != masked || arr[0] != 1 {
		t.Errorf("int8[]: %v", arr)
	}
	dec(9, 1009, &tarr)
	if len(tarr) != 2 || tarr[1] != "371449*****8431" {
		t.Errorf("text[]: %v", tarr)
	}
	dec(10, oidInt8, &i8)
	if i8 != 1234567890123456789 {
		t.Errorf("clean int8 changed: %d", i8)
	}
	dec(11, oidBPChar, &str)
	if str != "353011******0000" {
		t.Errorf("bpchar: %q", str)
	}
	if n != 11 {
		t.Errorf("masked %d values, want 11 (counts %v)", n, s.Counts())
	}
	sm := s.Sample()
	if len(sm.Rows) != 1 || sm.Rows[0][2] != "4111110000001111" || sm.Rows[0][4] != "4111110000001111.00" {
		t.Errorf("sample %q", sm.Rows)
	}
	for _, p := range []string{"4111111111111111", "5555555555554444", "371449635398431", "378282246310005"} {
		if strings.Contains(strings.Join(sm.Rows[0], "|"), p) {
			t.Errorf("sample leaks %s", p)
		}
	}
}

func TestDataRowShapes(t *testing.T) {
	for _, c := range []struct {
		shape      Shape
		text, int8 string
	}{
		{ShapeFirst6Last4, "411111******1111", "4111110000001111"},
		{ShapeFirst8Last4, "41111111****1111", "4111111100001111"},
		{ShapeLast4, "************1111", "1111"},
		{ShapeFull, "****************", "1"}, // all zeros would pass Luhn: the last hidden digit breaks it
	} {
		s := newStream(t, Config{Shape: c.shape}, nil)
		s.Message('T', rowDesc(t, col{name: "a", oid: oidText}, col{name: "b", oid: oidInt8, format: 1}, col{name: "c", oid: oidInt8},
			col{name: "d", oid: oidNumeric, format: 1}, col{name: "e", oid: oidVarchar, format: 1}))
		row := dataRow(t, []byte("4111111111111111"), encBin(t, oidInt8, int64(4111111111111111)), []byte("4111111111111111"),
			encBin(t, oidNumeric, pgtype.Numeric{Int: big.NewInt(4111111111111111), Valid: true}), encBin(t, oidVarchar, "4111111111111111"))
		s.Message('D', row)
		v := decodeRow(t, row)
		var i8 int64
		if err := typeMap.Scan(oidInt8, 1, v[1], &i8); err != nil {
			t.Fatal(err)
		}
		var nm pgtype.Numeric
		if err := typeMap.Scan(oidNumeric, 1, v[3], &nm); err != nil {
			t.Fatal(err)
		}
		wantText := strings.Repeat("0", 16-len(c.int8)) + c.int8
		if string(v[0]) != c.text || formatInt(i8) != c.int8 || string(v[2]) != wantText || nm.Int.String() != c.int8 || string(v[4]) != c.text {
			t.Errorf("%s: text %q, int8 %d, int8 text %q, numeric %s, varchar %q", c.shape, v[0], i8, v[2], nm.Int, v[4])
		}
	}
}

func formatInt(i int64) string { return big.NewInt(i).String() }

func TestTaggedColumns(t *testing.T) {
	cat := fakeCatalog{{16384, 2}: {"public.cards", "secret"}, {16384, 3}: {"public.cards", "note"}}
	s := newStream(t, Config{Columns: []string{"cards.secret"}, ColumnPatterns: []string{"*card_no*"}}, cat)
	s.Message('T', rowDesc(t,
		col{name: "alias", oid: oidText, table: 16384, att: 2},
		col{name: "note", oid: oidText, table: 16384, att: 3},
		col{name: "old_card_no", oid: oidInt8, format: 1},
		col{name: "x", oid: oidText, table: 16384, att: 2},
	))
	row := dataRow(t, []byte("tok_ab12-3456"), []byte("tok_ab12-3456"), encBin(t, oidInt8, int64(41111111111)), nil)
	if n := s.Message('D', row); n != 2 {
		t.Errorf("masked %d, want 2", n)
	}
	v := decodeRow(t, row)
	var i8 int64
	_ = typeMap.Scan(oidInt8, 1, v[2], &i8)
	// a tagged number too short for a PAN is hidden whole; all zeros would pass Luhn, so it ends in 1
	if string(v[0]) != "***_****-****" || string(v[1]) != "tok_ab12-3456" || i8 != 1 {
		t.Errorf("tagged: %q %q %d", v[0], v[1], i8)
	}
	if s.Counts()["alias"] != 1 || s.Counts()["old_card_no"] != 1 {
		t.Errorf("counts %v", s.Counts())
	}
}

// TestExtendedProtocolFormats: the 'T' came from Describe(statement) with format 0, Bind asked for binary.
func TestFloatText(t *testing.T) {
	s := newStream(t, Config{}, nil)
	s.Message('T', rowDesc(t, col{name: "f", oid: oidFloat8}))
	for in, want := range map[string]string{
		"4.111111111111111e+15":  "4.111110000001111e+15",
		"-4.111111111111111e+15": "-4.111110000001111e+15",
		"5.5e+15":                "5.5e+15",
		"4111111111111111":       "4111110000001111",
		"1.5":                    "1.5",
		"1e-05":                  "1e-05",
		"NaN":                    "NaN",
		"3.78282246310005e+14":   "3.78282000000005e+14",
	} {
		row := dataRow(t, []byte(in))
		s.Message('D', row)
		if v := decodeRow(t, row)[0]; string(v) != want {
			t.Errorf("%s -> %s, want %s", in, v, want)
		}
	}
}

func TestFixedTypesNotScanned(t *testing.T) {
	s := newStream(t, Config{}, nil)
	s.Message('T', rowDesc(t, col{name: "u", oid: oidUUID}, col{name: "t", oid: oidText}))
	const u = "a820c714-cdb7-5cbf-6938-49626397c789" // "6938-49626397" is a Luhn-valid Maestro-12 run
	row := dataRow(t, []byte(u), []byte(u))
	if n := s.Message('D', row); n != 1 {
		t.Errorf("masked %d, want 1 (the text column only)", n)
	}
	if v := decodeRow(t, row); string(v[0]) != u || string(v[1]) == u {
		t.Errorf("uuid %q, text %q", v[0], v[1])
	}
}

func TestExtendedProtocolFormats(t *testing.T) {
	s := newStream(t, Config{}, nil)
	desc := rowDesc(t, col{name: "p", oid: oidInt8})
	s.SetRowDescription(desc, []int16{1})
	row := dataRow(t, encBin(t, oidInt8, int64(4111111111111111)))
	s.Message('D', row)
	var i8 int64
	_ = typeMap.Scan(oidInt8, 1, decodeRow(t, row)[0], &i8)
	if i8 != 4111110000001111 {
		t.Errorf("binary int8 after SetRowDescription: %d", i8)
	}
	// another statement's 'T' in between, then back to the cached one with text format
	s.Message('T', rowDesc(t, col{name: "q", oid: oidText}))
	s.SetRowDescription(desc, nil)
	row = dataRow(t, []byte("4111111111111111"))
	s.Message('D', row)
	if v := decodeRow(t, row)[0]; string(v) != "4111110000001111" {
		t.Errorf("text int8: %q", v)
	}
	// unknown layout: every value is scanned as text and 8-byte values as int8 as well
	s.ForgetRowDescription()
	row = dataRow(t, []byte("x 4111111111111111"), encBin(t, oidInt8, int64(4111111111111111)))
	if n := s.Message('D', row); n != 2 {
		t.Errorf("unknown layout masked %d, want 2", n)
	}
	// a stale description claiming text format while the values are binary: NUL bytes give it away
	// (a float8 need not contain a NUL byte: that case is not caught)
	s.Message('T', rowDesc(t, col{name: "a", oid: oidText}, col{name: "c", oid: oidText}))
	row = dataRow(t, encBin(t, oidInt8, int64(4111111111111111)),
		encBin(t, oidNumeric, pgtype.Numeric{Int: big.NewInt(378282246310005), Valid: true}))
	if n := s.Message('D', row); n != 2 {
		t.Errorf("binary values under a text layout: masked %d, want 2", n)
	}
	s.ForgetRowDescription()
	row = dataRow(t, encBin(t, oidFloat8, float64(4111111111111111)))
	if n := s.Message('D', row); n != 1 {
		t.Errorf("float8 under an unknown layout: masked %d, want 1", n)
	}
	// a description whose column count differs from the DataRow is not trusted
	s.Message('T', rowDesc(t, col{name: "a", oid: oidInt4, format: 1}))
	row = dataRow(t, []byte("4111111111111111"), []byte("y"))
	if n := s.Message('D', row); n != 1 {
		t.Errorf("mismatched layout masked %d", n)
	}
}

func TestErrorNoticeNotification(t *testing.T) {
	s := newStream(t, Config{}, nil)
	typ, b := body(t, &pgproto3.ErrorResponse{Severity: "ERROR", Code: "22P02", Message: `invalid input syntax for type integer: "4111111111111111x"`,
		Detail: "Key (pan)=(5500 0000 0000 0004) already exists.", Where: "4111111111111111"})
	if n := s.Message(typ, b); n != 3 {
		t.Errorf("error masked %d, want 3", n)
	}
	var er pgproto3.ErrorResponse
	if err := er.Decode(b); err != nil {
		t.Fatal(err)
	}
	if er.Code != "22P02" || er.Detail != "Key (pan)=(5500 00** **** 0004) already exists." || er.Where != "411111******1111" {
		t.Errorf("error: %+v", er)
	}
	typ, b = body(t, &pgproto3.NoticeResponse{Severity: "NOTICE", Code: "00000", Message: "card 378282246310005"})
	s.Message(typ, b)
	var nr pgproto3.NoticeResponse
	_ = nr.Decode(b)
	if nr.Message != "card 378282*****0005" {
		t.Errorf("notice: %q", nr.Message)
	}
	typ, b = body(t, &pgproto3.NotificationResponse{PID: 0x34343434, Channel: "c", Payload: `{"pan":"4111111111111111"}`})
	s.Message(typ, b)
	var an pgproto3.NotificationResponse
	_ = an.Decode(b)
	if an.PID != 0x34343434 || an.Payload != `{"pan":"411111******1111"}` {
		t.Errorf("notification: %+v", an)
	}
	typ, b = body(t, &pgproto3.ParameterStatus{Name: "application_name", Value: "4111111111111111"})
	s.Message(typ, b)
	typ, b = body(t, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("4111111111111111"), DataTypeOID: oidText}}})
	s.Message(typ, b)
	if bytes.Contains(b, []byte("4111111111111111")) {
		t.Error("column name not masked")
	}
	c := s.Counts()
	if c[CountError] != 3 || c[CountNotice] != 1 || c[CountNotification] != 1 || c[CountParameter] != 1 || c[CountRowDescription] != 1 {
		t.Errorf("counts %v", c)
	}
	// authentication messages are never touched
	auth := []byte("\x00\x00\x00\x0br=4111111111111111")
	if s.Message('R', auth) != 0 || !bytes.Contains(auth, []byte("4111111111111111")) {
		t.Error("'R' modified")
	}
}

func TestCopyText(t *testing.T) {
	s := newStream(t, Config{}, nil)
	_, h := body(t, &pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: []uint16{0, 0}})
	s.Message('H', h)
	rows := []string{"1\t4111111111111111\n", "2\t\"5500 0000 0000 0004\"\n", "3,\"6011000990139424\"\n"}
	for _, r := range rows {
		b := []byte(r)
		if s.Message('d', b) != 1 {
			t.Errorf("copy row %q not masked: %q", r, b)
		}
		if naiveLeak(string(b)) != "" {
			t.Errorf("leak in %q", b)
		}
	}
	// a PAN cut across two CopyData messages: the second part is hidden entirely
	a, b := []byte("4\t41111111"), []byte("11111111\n")
	s.Message('d', a)
	if s.Message('d', b) != 1 || string(b) != "********\n" {
		t.Errorf("boundary: %q", b)
	}
	s.Message('c', nil)
	if s.Counts()[CountCopy] != 4 {
		t.Errorf("counts %v", s.Counts())
	}
	if sm := s.Sample(); len(sm.Rows) != 5 || sm.Rows[0][1] != "411111******1111" || sm.Truncated {
		t.Errorf("copy sample %+v", sm)
	}
}

func TestCopyTaggedColumns(t *testing.T) {
	s := newStream(t, Config{Columns: []string{"cards.secret"}}, nil)
	s.SetCopyColumns("public.cards", []string{"id", "secret"})
	s.Message('H', []byte{0, 0, 2, 0, 0, 0, 0})
	b := []byte("1\tabc 123\n2\t\\N\n")
	s.Message('d', b)
	if string(b) != "1\t*** ***\n2\t\\N\n" {
		t.Errorf("tagged copy: %q", b)
	}
}

// binaryCopy builds binary COPY data for rows of fields (nil = NULL).
func binaryCopyData(rows ...[][]byte) []byte {
	var b []byte
	b = append(b, copySignature...)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, r := range rows {
		b = binary.BigEndian.AppendUint16(b, uint16(len(r)))
		for _, f := range r {
			if f == nil {
				b = binary.BigEndian.AppendUint32(b, math.MaxUint32)
				continue
			}
			b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
			b = append(b, f...)
		}
	}
	return binary.BigEndian.AppendUint16(b, 0xffff)
}

func TestCopyBinary(t *testing.T) {
	data := binaryCopyData(
		[][]byte{encBin(t, oidInt4, int32(1)), []byte("4111111111111111"), nil},
		[][]byte{encBin(t, oidInt4, int32(0x34343434)), []byte("x 5500000000000004 y"), []byte("z")},
	)
	for _, split := range []int{len(data), 19, 30, 41} {
		s := newStream(t, Config{}, nil)
		s.Message('H', []byte{1, 0, 3, 0, 1, 0, 1, 0, 1})
		d := bytes.Clone(data)
		n := s.Message('d', d[:split])
		if split < len(d) {
			n += s.Message('d', d[split:])
		}
		if n != 2 || naiveLeak(string(d)) != "" || (split != 41 && !bytes.Contains(d, []byte("411111******1111"))) {
			t.Errorf("split %d: masked %d: %q", split, n, d)
		}
		if !bytes.Equal(d[:19], data[:19]) || !bytes.Contains(d, []byte("4444")) {
			t.Errorf("split %d: framing or int4 bytes changed", split)
		}
	}
}

func TestMalformedMessages(t *testing.T) {
	s := newStream(t, Config{}, nil)
	for _, b := range [][]byte{
		nil, {0}, {0, 1}, {0, 1, 0, 0, 0, 99, '4'},
		append([]byte{0, 1, 0xff, 0xff, 0xff, 0xf0}, "4111111111111111"...),
		append([]byte{0, 1, 0, 0, 0, 5}, "4111111111111111"...),
	} {
		for _, typ := range []byte{'T', 'D', 'd', 'E', 'N', 'A', 'S', 'V', 'H', 'W', 'c'} {
			c := bytes.Clone(b)
			s.Message(typ, c)
			if len(c) != len(b) {
				t.Fatal("length changed")
			}
			if typ != 'T' && typ != 'H' && typ != 'W' && typ != 'c' && naiveLeak(string(c)) != "" {
				t.Errorf("%c %q: PAN left in malformed body: %q", typ, b, c)
			}
		}
	}
}

func TestStreamNoAllocsOnCleanRows(t *testing.T) {
	s := newStream(t, Config{}, nil)
	s.Message('T', rowDesc(t, col{name: "id", oid: oidInt8, format: 1}, col{name: "name", oid: oidText}, col{name: "ts", oid: oidTimestampTZ}, col{name: "amount", oid: oidNumeric, format: 1}))
	row := dataRow(t, encBin(t, oidInt8, int64(123456789012)), []byte("Jane Doe, order 20261127-0042"), []byte("2026-11-27 10:08:33.123456+00"),
		encBin(t, oidNumeric, pgtype.Numeric{Int: big.NewInt(12345678), Exp: -2, Valid: true}))
	for range DefaultSampleRows + 1 { // fill the sample first: sampling allocates by design
		s.Message('D', row)
	}
	if a := testing.AllocsPerRun(200, func() { s.Message('D', row) }); a != 0 {
		t.Fatalf("Stream.Message on a clean DataRow allocates %v times", a)
	}
	if !s.Sample().Truncated {
		t.Error("sample not marked truncated")
	}
}

func TestMaskValue(t *testing.T) {
	m := newMasker(t, Config{})
	b := encBin(t, oidInt8, int64(4111111111111111))
	if m.MaskValue(oidInt8, 1, false, b) != 1 {
		t.Fatal("binary int8 parameter not masked")
	}
	var i8 int64
	_ = typeMap.Scan(oidInt8, 1, b, &i8)
	if i8 != 4111110000001111 {
		t.Errorf("int8 %d", i8)
	}
	for _, c := range []struct {
		oid    uint32
		format int16
		in     string
		want   string
	}{
		{oidText, 0, "4111111111111111", "411111******1111"},
		{oidInt8, 0, "4111111111111111", "4111110000001111"},
		{oidFloat8, 0, "4.111111111111111e+15", "4.111110000001111e+15"},
		{oidBytea, 0, `\x34313131313131313131313131313131`, `\x3431313131312a2a2a2a2a2a31313131`},
		{0, 0, "x 4111111111111111", "x 411111******1111"},
		{oidText, 0, "no card", "no card"},
		{oidJSONB, 0, `{"n":4111111111111111,"s":"4111111111111111","e":"a\"4111111111111111"}`, `{"n":4111110000001111,"s":"411111******1111","e":"a\"411111******1111"}`},
		{oidJSON, 0, `[5500000000000004, "x"]`, `[5500000000010004, "x"]`}, // zero-filled it came back unchanged
		{oidJSON, 0, `[5555555555554444, "x"]`, `[5555550000004444, "x"]`},
	} {
		v := []byte(c.in)
		m.MaskValue(c.oid, c.format, false, v)
		if string(v) != c.want {
			t.Errorf("MaskValue(%d, %d, %q) = %q, want %q", c.oid, c.format, c.in, v, c.want)
		}
	}
}
