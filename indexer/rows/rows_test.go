package rows

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pangate/pangate/internal/auditstore"
	"github.com/pangate/pangate/schemas"
)

// ddlColumns reads the column names and ClickHouse types of every table in the embedded migrations.
func ddlColumns(t *testing.T) map[string][]auditstore.DDLColumn {
	t.Helper()
	ddl, err := auditstore.MigratedColumns()
	if err != nil {
		t.Fatal(err)
	}
	return ddl
}

var goTypeOf = map[string]reflect.Type{
	"String": reflect.TypeOf(""), "DateTime('UTC')": reflect.TypeOf(time.Time{}), "UInt64": reflect.TypeOf(uint64(0)),
	"Int64": reflect.TypeOf(int64(0)), "Int32": reflect.TypeOf(int32(0)), "UInt8": reflect.TypeOf(uint8(0)),
	"UInt32": reflect.TypeOf(uint32(0)), "Array(String)": reflect.TypeOf([]string{}),
	"Array(UInt64)": reflect.TypeOf([]uint64{}), "Array(Int64)": reflect.TypeOf([]int64{}),
	"Array(UInt8)": reflect.TypeOf([]uint8{}),
}

// checkRow asserts that a row has one value per column, of the Go type the DDL column takes.
func checkRow(t *testing.T, ddl map[string][]auditstore.DDLColumn, r Row) {
	t.Helper()
	cols, ok := ddl[r.Table.Name]
	if !ok {
		t.Fatalf("table %s is not in the DDL", r.Table.Name)
	}
	if len(r.Values) != len(r.Table.Columns) {
		t.Fatalf("%s: %d values for %d columns", r.Table.Name, len(r.Values), len(r.Table.Columns))
	}
	types := map[string]string{}
	for _, c := range cols {
		types[c.Name] = c.Type
	}
	for i, name := range r.Table.Columns {
		ct, ok := types[name]
		if !ok {
			t.Fatalf("%s.%s is not in the DDL", r.Table.Name, name)
		}
		want := goTypeOf[ct]
		if want == nil {
			t.Fatalf("%s.%s: no Go type for %s", r.Table.Name, name, ct)
		}
		if got := reflect.TypeOf(r.Values[i]); got != want {
			t.Errorf("%s.%s (%s): value %#v is %v, want %v", r.Table.Name, name, ct, r.Values[i], got, want)
		}
	}
}

func record(t *testing.T, e schemas.Event) Record {
	t.Helper()
	b, err := schemas.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return Record{Topic: "pangate.audit", Partition: 2, Offset: 41, Key: []byte(e.Session), Value: b,
		Timestamp: time.Date(2026, 11, 27, 10, 0, 1, 0, time.UTC)}
}

func mapper() *Mapper {
	return &Mapper{Validate: schemas.Validate, Now: func() time.Time { return time.Date(2026, 11, 27, 10, 0, 2, 0, time.UTC) }}
}

func TestMapEveryType(t *testing.T) {
	ddl := ddlColumns(t)
	want := map[string][]string{
		schemas.TypeGatewayStarted: {"lifecycle"}, schemas.TypeGatewayStopped: {"lifecycle"},
		schemas.TypeGatewayCheckpoint: {"checkpoints"}, schemas.TypeAuthSucceeded: {"auth_events"},
		schemas.TypeAuthFailed: {"auth_events"}, schemas.TypeSessionStarted: {"sessions"},
		schemas.TypeSessionEnded: {"session_ends"}, schemas.TypeCredentialIssued: {"credentials"},
		schemas.TypeCredentialRevoked: {"credentials"}, schemas.TypeQueryExecuted: {"statements", "statement_tables"},
		schemas.TypeQueryBlocked: {"statements", "statement_tables"}, schemas.TypeQueryCompleted: {"completions"},
		schemas.TypeApprovalRequested: {"approvals"},
		schemas.TypeApprovalNotified:  {"approvals"}, schemas.TypeApprovalDecided: {"approvals"},
		schemas.TypeApprovalExpired: {"approvals"}, schemas.TypeApprovalRejected: {"approvals"}, schemas.TypePolicyLoaded: {"lifecycle"},
		schemas.TypeRetentionDropped: {"lifecycle"}, schemas.TypeReportGenerated: {"lifecycle"}, schemas.TypeSessionReaped: {"lifecycle"},
	}
	for _, typ := range schemas.Types {
		t.Run(typ, func(t *testing.T) {
			data, err := schemas.Example(typ)
			if err != nil {
				t.Fatal(err)
			}
			c := schemas.NewChain("01936a6e-0000-7000-8000-00000000000a", schemas.Source{Instance: "gw-1", Version: "0.1.0"})
			c.Now = func() time.Time { return time.Date(2026, 11, 27, 10, 0, 0, 123456000, time.UTC) }
			e, err := c.Next(typ, data)
			if err != nil {
				t.Fatal(err)
			}
			rec := record(t, e)
			rs := mapper().Map(rec)
			var got []string
			for _, r := range rs {
				got = append(got, r.Table.Name)
				checkRow(t, ddl, r)
			}
			if w := append([]string{"events"}, want[typ]...); !reflect.DeepEqual(got, w) {
				t.Fatalf("tables %v, want %v (rows %v)", got, w, rs)
			}
			ev := rs[0].Values
			if ev[0] != e.ID || ev[2] != uint64(1795773600123456) || ev[12] != string(rec.Value) || ev[15] != int64(41) {
				t.Errorf("events row %v", ev)
			}
			if ev[1] != time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC) {
				t.Errorf("time column %v not truncated to the second", ev[1])
			}
			if rs[1].Values[0] != e.ID {
				t.Errorf("typed row event_id %v", rs[1].Values[0])
			}
		})
	}
}

func TestMapStatementDetails(t *testing.T) {
	c := schemas.NewChain("s1", schemas.Source{Instance: "gw-1", Version: "1"})
	q := schemas.QueryExecuted{Statement: schemas.Statement{SQL: "SELECT 1 FROM a JOIN b", Kind: "read",
		Tables: []string{"a", "b", "a"}, Cardholder: true, Protocol: "simple", Index: 4, Fingerprint: "f"},
		Role: "r", Outcome: "ok", Rows: 3, DurationUS: 9, MaskShape: "first6last4",
		Masked:   []schemas.ColumnCount{{Column: "pan", Count: 2}, {Column: "pan2", Count: 5}},
		Approval: &schemas.ApprovalRef{ID: "ap1", Decision: "approved", By: "U1"}}
	e, err := c.Next(schemas.TypeQueryExecuted, q)
	if err != nil {
		t.Fatal(err)
	}
	m := mapper()
	m.Validate = nil
	rs := m.Map(record(t, e))
	if len(rs) != 4 { // events, statements, two distinct statement_tables
		t.Fatalf("%d rows: %v", len(rs), rs)
	}
	st := rs[1].Values
	idx := func(name string) int {
		for i, c := range auditstore.Statements.Columns {
			if c == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	if st[idx("masked_total")] != int64(7) || st[idx("cardholder")] != uint8(1) || st[idx("approval_by")] != "U1" ||
		st[idx("stmt_index")] != int64(4) || !reflect.DeepEqual(st[idx("masked_columns")], []string{"pan", "pan2"}) {
		t.Errorf("statement row %v", st)
	}
	if rs[2].Values[4] != "a" || rs[3].Values[4] != "b" {
		t.Errorf("statement_tables %v %v", rs[2].Values, rs[3].Values)
	}
}

// TestMapCompletion: a query.completed becomes one completions row naming its intent's seq, with the
// outcome, rows, per-column masked counts and their total, and the sample; no statements row (the view
// statement_outcomes joins it onto its query.executed) and no statement_tables row.
func TestMapCompletion(t *testing.T) {
	c := schemas.NewChain("s1", schemas.Source{Instance: "gw-1", Version: "1"})
	for _, tc := range []struct {
		name  string
		d     schemas.QueryCompleted
		total int64
		smp   string
	}{
		{"export", schemas.QueryCompleted{Intent: 7, Index: 3, Kind: "copy", Outcome: "ok", CommandTag: "COPY 20", Rows: 20,
			DurationUS: 4200, MaskShape: "first6last4", Masked: []schemas.ColumnCount{{Column: "pan", Count: 18}, {Column: "pan2", Count: 20}},
			Sample: &schemas.Sample{Columns: []string{"id", "pan"}, Rows: [][]string{{"1", "411111******1112"}}}},
			38, `{"columns":["id","pan"],"rows":[["1","411111******1112"]]}`},
		{"error", schemas.QueryCompleted{Intent: 9, Index: 4, Kind: "write", Outcome: "error", SQLState: "23505",
			Error: "duplicate key value violates unique constraint", MaskShape: "first6last4"}, 0, ""},
		{"skipped", schemas.QueryCompleted{Intent: 11, Index: 5, Kind: "ddl", Outcome: "skipped", MaskShape: "first6last4"}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := c.Next(schemas.TypeQueryCompleted, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			rs := mapper().Map(record(t, e))
			if len(rs) != 2 || rs[1].Table != &auditstore.Completions {
				t.Fatalf("rows %v, want events + completions", rs)
			}
			checkRow(t, ddlColumns(t), rs[1])
			v := map[string]any{}
			for i, col := range auditstore.Completions.Columns {
				v[col] = rs[1].Values[i]
			}
			masked := make([]string, 0, len(tc.d.Masked))
			for _, m := range tc.d.Masked {
				masked = append(masked, m.Column)
			}
			if v["session"] != "s1" || v["seq"] != e.Seq || v["intent_seq"] != tc.d.Intent || v["stmt_index"] != tc.d.Index ||
				v["kind"] != tc.d.Kind || v["outcome"] != tc.d.Outcome || v["sqlstate"] != tc.d.SQLState || v["error"] != tc.d.Error ||
				v["command_tag"] != tc.d.CommandTag || v["row_count"] != tc.d.Rows || v["duration_us"] != tc.d.DurationUS ||
				v["masked_total"] != tc.total || v["sample"] != tc.smp || !reflect.DeepEqual(v["masked_columns"], masked) {
				t.Errorf("completions row %v", v)
			}
			// A replay maps to the identical row (same sorting key and values), which FINAL collapses.
			again := mapper().Map(record(t, e))
			if !reflect.DeepEqual(again[1].Values, rs[1].Values) {
				t.Errorf("replayed completion maps differently:\n%v\n%v", again[1].Values, rs[1].Values)
			}
		})
	}
}

func deadOf(t *testing.T, rs []Row) (stage, reason string) {
	t.Helper()
	if len(rs) != 1 || rs[0].Table != &auditstore.DeadLetters {
		t.Fatalf("want one dead letter, got %v", rs)
	}
	checkRow(t, ddlColumns(t), rs[0])
	return rs[0].Values[7].(string), rs[0].Values[8].(string)
}

func TestDeadLetters(t *testing.T) {
	c := schemas.NewChain("s1", schemas.Source{Instance: "gw-1", Version: "1"})
	good, err := c.Next(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"})
	if err != nil {
		t.Fatal(err)
	}
	edited := good
	edited.Data = json.RawMessage(`{"blocked":0,"bytes_in":0,"bytes_out":0,"duration_us":0,"reason":"shutdown","statements":0}`)
	unknown := good
	unknown.Type = "session.exploded"
	v2 := good
	v2.V = 2
	invalid, err := c.Next(schemas.TypeSessionEnded, map[string]any{"reason": 7})
	if err != nil {
		t.Fatal(err)
	}
	marshal := func(e schemas.Event) []byte {
		b, err := schemas.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name, stage string
		value       []byte
	}{
		{"not json", StageParse, []byte("\x00\x01garbage")},
		{"json array", StageParse, []byte(`[1,2]`)},
		{"empty", StageParse, nil},
		{"unknown type", StageType, marshal(unknown)},
		{"version 2", StageType, marshal(v2)},
		{"schema invalid data", StageValidate, marshal(invalid)},
		{"edited", StageVerify, marshal(edited)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := mapper().Map(Record{Topic: "x", Partition: 1, Offset: 9, Value: tc.value, Timestamp: time.Unix(1700000000, 0)})
			stage, reason := deadOf(t, rs)
			if stage != tc.stage || reason == "" {
				t.Errorf("stage %q reason %q, want stage %q", stage, reason, tc.stage)
			}
		})
	}
	// The map stage catches data the schema let through but Go cannot read (validator off here).
	m := mapper()
	m.Validate = func([]byte) error { return nil }
	stage, _ := deadOf(t, m.Map(Record{Value: marshal(invalid), Timestamp: time.Unix(1700000000, 0)}))
	if stage != StageMap {
		t.Errorf("stage %q, want %q", stage, StageMap)
	}
	m.Validate = func([]byte) error { return errors.New("nope") }
	if stage, reason := deadOf(t, m.Map(Record{Value: marshal(good)})); stage != StageValidate || reason != "nope" {
		t.Errorf("validator error not used: %q %q", stage, reason)
	}
}

// TestTimesClickHouseCannotStore: an event time outside DateTime's range is a dead letter (an insert that
// always fails would stall ingestion), and a nonsense Kafka timestamp on a dead letter is clamped.
func TestTimesClickHouseCannotStore(t *testing.T) {
	for _, ts := range []time.Time{time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)} {
		c := schemas.NewChain("s1", schemas.Source{Instance: "gw", Version: "1"})
		c.Now = func() time.Time { return ts }
		e, err := c.Next(schemas.TypeSessionEnded, schemas.SessionEnded{Reason: "client_terminate"})
		if err != nil {
			t.Fatal(err)
		}
		rec := record(t, e)
		rec.Timestamp = time.UnixMilli(-1)
		rs := mapper().Map(rec)
		if stage, _ := deadOf(t, rs); stage != StageMap {
			t.Errorf("time %s: stage %q, want %q", ts, stage, StageMap)
		}
		if kt := rs[0].Values[0].(time.Time); kt.Before(time.Unix(0, 0)) {
			t.Errorf("dead letter kafka_time %s is before the epoch", kt)
		}
	}
}

func FuzzMap(f *testing.F) {
	c := schemas.NewChain("s1", schemas.Source{Instance: "gw-1", Version: "1"})
	for _, typ := range schemas.Types {
		d, _ := schemas.Example(typ)
		e, err := c.Next(typ, d)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := schemas.Marshal(e)
		f.Add(b)
	}
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"type":"query.executed","data":null}`))
	m := mapper()
	f.Fuzz(func(t *testing.T, b []byte) {
		rs := m.Map(Record{Value: b})
		if len(rs) == 0 {
			t.Fatal("no rows")
		}
		for _, r := range rs {
			for _, v := range r.Values {
				if tv, ok := v.(time.Time); ok && (tv.Before(time.Unix(0, 0)) || tv.Year() > 2105) {
					t.Fatalf("%s: time %s does not fit ClickHouse DateTime", r.Table.Name, tv)
				}
			}
			if len(r.Values) != len(r.Table.Columns) {
				t.Fatalf("%s: %d values for %d columns", r.Table.Name, len(r.Values), len(r.Table.Columns))
			}
		}
	})
}
