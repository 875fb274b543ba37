package panleak_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	pg "github.com/pganalyze/pg_query_go/v6"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	gatewayconfig "github.com/pangate/pangate/gateway/config"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/gobuild"
	"github.com/pangate/pangate/schemas"
)

// TestPANLeakAllClients (issue 12, item 5) runs both adversarial corpora — launderCorpus (content scanning:
// zero-middle numbers, ranges, money, composites, Unicode digits) and lineageLaundering (expressions over
// tagged columns) — plus plain reads as controls, through all five clients (psql text; pgx binary through
// ExecParams and through prepared statements; psycopg binary; JDBC binary) in both configurations:
//
//   - tagged: the example's column tags (deploy/gateway/gateway.example.yaml patterns, the fixture's encoded
//     columns, the launder table as a whole table "t.*") and the default policy (deploy/policy/pci.yaml,
//     no approver): every corpus statement must be refused as held (42501, "requires approval");
//   - content: no column tags, an allow-everything policy: every statement runs (its outcome must equal
//     PostgreSQL's own, so that it really ran) and only content scanning protects the values.
//
// Checked for every run: the bytes each client received (a recording TCP relay in front of the gateway),
// what each client printed or decoded, every Kafka record of both topics, the gateway logs, and every column
// of every row the real indexer wrote to ClickHouse (database h13_panleak). The assertion: none holds a
// seeded PAN, digits of any script read as ASCII, separators removed (docs/masking.md).
func TestPANLeakAllClients(t *testing.T) {
	start := time.Now()
	elapsed := func() time.Duration { return time.Since(start).Round(time.Millisecond) }
	go func() { _, _ = gobuild.Binary("./indexer") }() // built while the fixture is made

	f := newFixture(t)
	lt := launderTable(t, f)
	pans := append(append([]string(nil), f.PANs...), launderPANs...)
	cases := matrixCases(t, f, lt)
	truth := groundTruth(t, f, cases)

	prefix := stack.UniqueName(t, "h13pl") + "."
	var cols []string
	for _, c := range taggedColumns {
		cols = append(cols, f.Table+"."+c)
	}
	cols = append(cols, "public.cards.number", lt+".*")
	configs := []*matrixConfig{
		{name: "tagged", gw: startGatewayOpts(t, f, gwOpts{policy: pciPolicy(t, f.Role), prefix: prefix, name: "-tagged",
			mask: gatewayconfig.Mask{ColumnPatterns: []string{"pan", "card_number", "*card_no*"}, Columns: cols}})},
		{name: "content", gw: startGatewayOpts(t, f, gwOpts{prefix: prefix, name: "-content", mask: gatewayconfig.Mask{}})},
	}
	t.Logf("fixture, ground truth and two gateways ready (%v)", elapsed())

	idx := startIndexer(t, f, prefix)

	full := newDetector(pans)
	addMoney(full, pans)
	// Content scanning does not claim reversed digits or base64 (docs/masking.md, "What content scanning
	// cannot catch"); the storage detector claims base64 but not reversal (docs/masking.md, "What is stored").
	clientContent := full.without("reversed digits", "base64 of the digits")
	storedContent := full.without("reversed digits")

	javaClasspath := jdbcJar(t)
	if err := exec.Command("python3", "-c", "import psycopg").Run(); err != nil {
		t.Fatal("psycopg is not installed for python3: install it with: go tool task clients")
	}

	// The three client processes of both configurations run at once; pgx runs in this goroutine meanwhile.
	var runs []*clientRun
	for _, mc := range configs {
		mc.relay = startRelay(t, mc.gw.Port)
		for _, c := range cases {
			if mc.name == "tagged" || !c.taggedOnly {
				mc.cases = append(mc.cases, c)
			}
		}
		corpusFile := filepath.Join(t.TempDir(), "corpus.tsv")
		var tsv strings.Builder
		for _, c := range mc.cases {
			fmt.Fprintf(&tsv, "%d\t%s\n", c.id, c.sql)
		}
		if err := os.WriteFile(corpusFile, []byte(tsv.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		g := mc.gw
		psql := exec.Command("psql", "-X", "-A", "-t", "-q", "-f", psqlScript(t, mc.cases),
			fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=disable password=%s", mc.relay.port, f.Role, g.token("h13-psql")))
		psycopg := exec.Command("python3", "testdata/psycopg_corpus.py",
			fmt.Sprintf("host=127.0.0.1 port=%s user=%s@pg dbname=postgres sslmode=disable password=%s", mc.relay.port, f.Role, g.token("h13-psycopg")), corpusFile)
		jdbc := exec.Command("java", "-cp", javaClasspath, "testdata/jdbc/JdbcCorpus.java",
			fmt.Sprintf("jdbc:postgresql://127.0.0.1:%s/postgres", mc.relay.port), f.Role+"@pg", g.token("h13-jdbc"), corpusFile)
		for _, c := range []struct {
			name string
			cmd  *exec.Cmd
		}{{"psql", psql}, {"psycopg", psycopg}, {"jdbc", jdbc}} {
			r := &clientRun{config: mc, client: c.name, cmd: c.cmd, wire: mc.relay.recorder(c.name)}
			r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
			if err := r.cmd.Start(); err != nil {
				t.Fatalf("%s %s: %v", mc.name, c.name, err)
			}
			runs = append(runs, r)
		}
	}
	for _, mc := range configs {
		for _, client := range []string{"pgx-execparams", "pgx-prepared"} {
			runs = append(runs, runPgx(t, mc, f, client, mc.cases))
		}
	}
	for _, r := range runs {
		if r.cmd != nil {
			err := r.cmd.Wait()
			if err != nil && r.client != "psql" { // psql's status is non-zero after refused statements
				t.Errorf("%s/%s: %v\nstderr:\n%s", r.config.name, r.client, err, redact(r.stderr.String(), pans))
			}
			r.outcomes = parseOutcomes(r.client, r.stdout.String())
		}
	}
	t.Logf("%d cases (tagged) + %d cases (content) × %d clients ran (%v)", len(configs[0].cases), len(configs[1].cases), len(runs)/len(configs), elapsed())

	for _, r := range runs {
		det := clientContent
		if r.config.name == "tagged" {
			det = full
		}
		t.Run(r.config.name+"/"+r.client, func(t *testing.T) {
			checkRun(t, r, r.config.cases, truth, det, pans)
		})
	}

	for _, mc := range configs {
		mc.gw.Stop()
		det := storedContent
		if mc.name == "tagged" {
			det = full
		}
		lines := mc.gw.Logs()
		for i, l := range lines {
			for _, fd := range scanStored(det, fmt.Sprintf("%s gateway log line %d", mc.name, i), []byte(l)) {
				t.Errorf("LEAK %s: %s", fd, redact(l, pans))
			}
		}
		msgs := map[string]int{}
		for _, l := range lines {
			var m struct{ Msg string }
			if json.Unmarshal([]byte(l), &m) == nil {
				msgs[m.Msg]++
			}
		}
		t.Logf("%s: %d gateway log lines scanned, by message: %v", mc.name, len(lines), msgs)
	}

	recs := readToEnd(t, prefix+schemas.TopicAudit, prefix+schemas.TopicApprovals, prefix+schemas.TopicDecisions)
	ids := map[string]bool{}
	taggedSessions := map[string]bool{} // sessions (and gateway runs) of the tagged gateway
	// The tagged gateway's query.blocked and query.executed events by statement fingerprint (the stored SQL
	// text may be over-masked by the storage detector: '0123456789' in translate() is).
	blocked := map[string]int{}
	blockedSessions := map[string]map[string]bool{}
	executed := map[string]bool{}
	for i, r := range recs {
		e, err := schemas.Parse(r.Value)
		if err != nil {
			t.Errorf("Kafka record %d of %s is not an event: %v", i, r.Topic, err)
			continue
		}
		ids[e.ID] = true
		det := storedContent
		if strings.HasSuffix(e.Gateway.Instance, "-tagged") {
			det = full
			taggedSessions[e.Session] = true
		}
		raw := append(append(append([]byte(nil), r.Key...), 0), r.Value...)
		for _, h := range r.Headers {
			raw = append(append(raw, h.Key...), h.Value...)
		}
		for _, fd := range scanStored(det, fmt.Sprintf("Kafka record %s/%d@%d (%s from %s)", r.Topic, r.Partition, r.Offset, e.Type, e.Gateway.Instance), raw) {
			t.Errorf("LEAK %s: %s", fd, redact(string(raw), pans))
		}
		if !strings.HasSuffix(e.Gateway.Instance, "-tagged") {
			continue
		}
		switch e.Type {
		case schemas.TypeQueryBlocked:
			var qb schemas.QueryBlocked
			if err := e.Decode(&qb); err != nil {
				t.Fatal(err)
			}
			fp := qb.Statement.Fingerprint
			blocked[fp]++
			if blockedSessions[fp] == nil {
				blockedSessions[fp] = map[string]bool{}
			}
			blockedSessions[fp][e.Session] = true
			if qb.Rule != "hold-derived-cardholder" {
				t.Errorf("tagged: query.blocked %q by rule %q, want hold-derived-cardholder", redact(qb.Statement.SQL, pans), qb.Rule)
			}
		case schemas.TypeQueryExecuted:
			var qe schemas.QueryExecuted
			if err := e.Decode(&qe); err != nil {
				t.Fatal(err)
			}
			executed[qe.Statement.Fingerprint] = true
		}
	}
	clients := len(runs) / len(configs)
	perFP := map[string]int{}
	for _, c := range cases {
		if !c.control {
			perFP[c.fingerprint]++
		}
	}
	for _, c := range cases {
		if c.control {
			continue
		}
		if executed[c.fingerprint] {
			t.Errorf("tagged: laundering case %d (%s) has a query.executed event", c.id, c.name)
		}
		if n, s := blocked[c.fingerprint], len(blockedSessions[c.fingerprint]); n < clients*perFP[c.fingerprint] || s != clients {
			t.Errorf("tagged: laundering case %d (%s): %d query.blocked events in %d sessions, want %d in %d (one per client)",
				c.id, c.name, n, s, clients*perFP[c.fingerprint], clients)
		}
	}
	t.Logf("%d Kafka records scanned (%v)", len(recs), elapsed())

	n := idx.waitEvents(t, len(ids))
	scanned := idx.scanClickHouse(t, func(where string, row []string, v string) {
		det := storedContent
		for _, x := range row { // a row of a tagged gateway's session is scanned with the full detector
			if taggedSessions[x] {
				det = full
			}
		}
		for _, fd := range scanStored(det, "ClickHouse "+where, []byte(v)) {
			t.Errorf("LEAK %s: %s", fd, redact(v, pans))
		}
	})
	t.Logf("ClickHouse: %d events ingested, %d values of %d rows scanned (%v)", n, scanned.values, scanned.rows, elapsed())
	for _, l := range idx.logs() {
		for _, fd := range scanStored(storedContent, "indexer log", []byte(l)) {
			t.Errorf("LEAK %s: %s", fd, redact(l, pans))
		}
	}
}

// matrixCase is one statement of the matrix. control cases are plain reads that every configuration lets
// through (masked); the others are the two corpora.
type matrixCase struct {
	id          int
	name        string
	sql         string
	control     bool
	taggedOnly  bool   // run in the tagged configuration only (content scanning cannot catch it by design)
	fingerprint string // pg_query's, as the gateway records it
}

func matrixCases(t *testing.T, f *fixture, lt string) []matrixCase {
	t.Helper()
	var cs []matrixCase
	add := func(name, sql string, control bool) {
		fp, err := pg.Fingerprint(sql)
		if err != nil {
			t.Fatalf("fingerprint of %s: %v", name, err)
		}
		cs = append(cs, matrixCase{id: len(cs) + 1, name: name, sql: sql, control: control, fingerprint: fp})
	}
	add("control: plain pan", "SELECT id, pan FROM "+f.Table+" ORDER BY id", true)
	add("control: plain encoded columns", "SELECT pan_rev, pan_b64, pan_head FROM "+f.Table+" ORDER BY id", true)
	// A PAN split across two columns reaches a client in the content configuration (a documented limit of
	// content scanning) but must never be stored whole (TestSampleSplitPANMasked).
	add("control: PAN split across two columns", "SELECT pan_head, pan_tail FROM "+f.Table+" ORDER BY id", true)
	add("control: plain launder value", "SELECT id, v FROM "+lt+" ORDER BY id", true)
	for _, a := range launderCorpus {
		add("launder: "+a.name, strings.ReplaceAll(a.sql, "{t}", lt), false)
	}
	for _, s := range lineageLaundering {
		sql := strings.ReplaceAll(s, "{t}", f.Table)
		add("lineage: "+sql, sql, false)
	}
	for _, s := range taggedOnlyLaundering {
		sql := strings.ReplaceAll(s, "{t}", f.Table)
		add("lineage (tagged only): "+sql, sql, false)
		cs[len(cs)-1].taggedOnly = true
	}
	return cs
}

// taggedOnlyLaundering are more of issue 12's laundering classes. Content scanning cannot catch them by
// design (docs/masking.md, "What content scanning cannot catch": arithmetic, other separators, encodings,
// a digit prefixed, values sent elsewhere), so they run in the tagged configuration only, where lineage
// must hold every one.
var taggedOnlyLaundering = []string{
	`SELECT pan::bigint * 1e-4 FROM {t} ORDER BY id`,
	`SELECT pan::bigint - 1 FROM {t} ORDER BY id`,
	`SELECT '9' || pan FROM {t} ORDER BY id`,
	`SELECT pan::numeric::money FROM {t} WHERE length(pan) <= 16`,
	`SELECT pan::float8 FROM {t}`,
	`SELECT pan::bigint::bit(64) FROM {t}`,
	`SELECT to_char(pan::numeric, 'FM9999G9999G9999G9999999') FROM {t}`,
	`SELECT regexp_replace(pan, '(\d)', '.', 'g') FROM {t}`,
	`SELECT replace(pan, '', chr(160)) || chr(8203) FROM {t}`,
	`SELECT translate(pan, '0123456789', '０１２３４５６７８９') FROM {t}`,
	`SELECT encode(convert_to(pan, 'UTF8'), 'base64') FROM {t}`,
	`SELECT encode(textsend(pan), 'hex') FROM {t}`,
	`SELECT textsend(pan) FROM {t}`,
	`SELECT substr(pan, 1, 8), substr(pan, 9) FROM {t}`,
	`SELECT unnest(ARRAY[substr(pan, 1, 8), substr(pan, 9)]) FROM {t}`,
	`SELECT string_to_array(pan, NULL) FROM {t}`,
	`SELECT json_build_object('p', pan) FROM {t}`,
	`SELECT xmlelement(name p, pan) FROM {t}`,
	`SELECT point(substr(pan, 1, 8)::float8, substr(pan, 9)::float8) FROM {t}`,
	`SELECT int8multirange(int8range(pan::bigint, pan::bigint + 1)) FROM {t}`,
	`SELECT c::text FROM {t} c`,
	`SELECT to_json(c) FROM {t} c`,
	`SELECT pan FROM {t} UNION ALL SELECT pan FROM {t}`,
	`SELECT (SELECT max(pan) FROM {t})`,
	`SELECT CASE WHEN id > 0 THEN pan END FROM {t}`,
	`SELECT coalesce(pan, 'x') FROM {t}`,
	`SELECT set_config('application_name', pan, false) FROM {t} WHERE id = 1`,
	`SELECT 1 FROM {t} WHERE pan::int > 0`,
	`SELECT id FROM {t} ORDER BY pan::bigint::bit(64)::text`,
}

// outcome is what one statement did: rows returned, or a server error.
type outcome struct {
	state string // ok, err, fail (the client could not decode), missing
	rows  int
	code  string
	msg   string
}

func (o outcome) String() string {
	switch o.state {
	case "ok":
		return fmt.Sprintf("%d rows", o.rows)
	case "err":
		return "error " + o.code
	}
	return o.state + " " + o.msg
}

// groundTruth is each case's outcome straight from PostgreSQL (admin connection, text results): what a
// statement that really ran through the gateway must match in the content configuration.
func groundTruth(t *testing.T, f *fixture, cases []matrixCase) map[int]outcome {
	t.Helper()
	out := map[int]outcome{}
	for _, c := range cases {
		if c.taggedOnly {
			continue // refused in the tagged configuration, not run in the other (set_config would mark the admin session)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		rows, err := f.admin.Query(ctx, c.sql, pgx.QueryExecModeSimpleProtocol)
		n := 0
		if err == nil {
			for rows.Next() {
				n++
			}
			rows.Close()
			err = rows.Err()
		}
		cancel()
		var pe *pgconn.PgError
		switch {
		case err == nil:
			out[c.id] = outcome{state: "ok", rows: n}
		case errors.As(err, &pe):
			out[c.id] = outcome{state: "err", code: pe.Code}
		default:
			t.Fatalf("ground truth of case %d (%s): %v", c.id, c.name, err)
		}
	}
	return out
}

// matrixConfig is one gateway configuration and the relay clients reach it through.
type matrixConfig struct {
	name  string
	gw    *gw
	relay *relay
	cases []matrixCase // the cases run against it
}

// clientRun is one client's run of every case against one configuration.
type clientRun struct {
	config   *matrixConfig
	client   string
	cmd      *exec.Cmd
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	decoded  strings.Builder // pgx: the decoded values
	wire     *recorder
	outcomes map[int]outcome
}

// checkRun checks one client's run: outcomes (refused in tagged, PostgreSQL's own in content, controls
// always PostgreSQL's own) and no PAN in the wire bytes, printed or decoded values.
func checkRun(t *testing.T, r *clientRun, cases []matrixCase, truth map[int]outcome, det *detector, pans []string) {
	for _, c := range cases {
		got, ok := r.outcomes[c.id]
		if !ok {
			got = outcome{state: "missing"}
		}
		want := truth[c.id]
		switch {
		case r.config.name == "tagged" && !c.control:
			if got.state != "err" || got.code != "42501" || !strings.Contains(got.msg, "requires approval") {
				t.Errorf("case %d (%s): %s %s; want it held (42501, requires approval)", c.id, c.name, got, redact(got.msg, pans))
			}
		case got.state != want.state || got.rows != want.rows || got.code != want.code:
			t.Errorf("case %d (%s): %s %s; PostgreSQL itself: %s", c.id, c.name, got, redact(got.msg, pans), want)
		}
	}
	wire := r.wire.take()
	if len(wire) == 0 {
		t.Fatal("no bytes recorded: the recorder is not in the path")
	}
	if r.cmd != nil {
		// The client really asked what it is meant to: binary results in Bind (psycopg, JDBC), the simple
		// protocol's text (psql).
		binds, bin := bindFormats(r.config.relay.sentBy(r.wire))
		switch {
		case r.client == "psql" && binds != 0:
			t.Errorf("psql sent %d Bind messages; want the simple protocol", binds)
		case r.client != "psql" && bin < len(cases)/2:
			t.Errorf("%s asked binary results in %d of %d Bind messages; want at least %d (one per case that ran)", r.client, bin, binds, len(cases)/2)
		}
	}
	for where, b := range map[string][]byte{"wire bytes": wire, "stdout": r.stdout.Bytes(), "stderr": r.stderr.Bytes(), "decoded values": []byte(r.decoded.String())} {
		for _, fd := range scanClient(det, where, b) {
			t.Errorf("LEAK %s", fd)
		}
	}
}

// bindFormats counts the Bind messages in the bytes a client sent (after its untyped startup message) and
// those asking a binary format for at least one result column.
func bindFormats(b []byte) (binds, bin int) {
	if len(b) < 4 {
		return 0, 0
	}
	n := int(binary32(b))
	for i := n; i+5 <= len(b); {
		typ, l := b[i], int(binary32(b[i+1:]))
		if l < 4 || i+1+l > len(b) {
			break
		}
		body := b[i+5 : i+1+l]
		i += 1 + l
		if typ != 'B' {
			continue
		}
		binds++
		p := bytes.IndexByte(body, 0) + 1
		p += bytes.IndexByte(body[p:], 0) + 1
		u16 := func() int {
			if p+2 > len(body) {
				p = len(body)
				return 0
			}
			v := int(binary.BigEndian.Uint16(body[p:]))
			p += 2
			return v
		}
		p += 2 * u16() // parameter formats
		for k := u16(); k > 0 && p+4 <= len(body); k-- {
			if pl := int(int32(binary.BigEndian.Uint32(body[p:]))); pl > 0 {
				p += 4 + pl
			} else {
				p += 4
			}
		}
		for k := u16(); k > 0; k-- {
			if u16() == 1 {
				bin++
				break
			}
		}
	}
	return binds, bin
}

func binary32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// parseOutcomes reads the "@@CASE" lines of a client program ("M" lines before one hold the error text).
// psql prints "@@CASE id ERROR SQLSTATE ROW_COUNT" from its own variables.
func parseOutcomes(client, out string) map[int]outcome {
	res := map[int]outcome{}
	msg := ""
	for _, l := range strings.Split(out, "\n") {
		if m, ok := strings.CutPrefix(l, "M "); ok {
			msg += m + " "
			continue
		}
		rest, ok := strings.CutPrefix(l, "@@CASE ")
		if !ok {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) < 3 {
			continue
		}
		id, _ := strconv.Atoi(fs[0])
		o := outcome{msg: msg}
		msg = ""
		switch {
		case client == "psql" && len(fs) >= 4 && fs[1] == "true":
			o.state, o.code = "err", fs[2]
		case client == "psql" && len(fs) >= 4:
			o.state = "ok"
			o.rows, _ = strconv.Atoi(fs[3])
		case fs[1] == "ok":
			o.state = "ok"
			o.rows, _ = strconv.Atoi(fs[2])
		case fs[1] == "err":
			o.state, o.code = "err", fs[2]
		default:
			o.state, o.msg = "fail", strings.Join(fs[1:], " ")
		}
		res[id] = o
	}
	return res
}

// psqlScript writes the cases as one psql script printing an "@@CASE" line after each statement.
func psqlScript(t *testing.T, cases []matrixCase) string {
	t.Helper()
	var b strings.Builder
	for _, c := range cases {
		fmt.Fprintf(&b, "%s;\n\\if :ERROR\n\\echo M :LAST_ERROR_MESSAGE\n\\endif\n\\echo @@CASE %d :ERROR :SQLSTATE :ROW_COUNT\n", c.sql, c.id)
	}
	path := filepath.Join(t.TempDir(), "corpus.sql")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runPgx runs every case on one pgx connection: "pgx-execparams" sends each statement unnamed with
// ExecParams asking binary results for every column (raw values kept); "pgx-prepared" uses cached prepared
// statements with binary results (values decoded by pgx).
func runPgx(t *testing.T, mc *matrixConfig, f *fixture, client string, cases []matrixCase) *clientRun {
	t.Helper()
	cl := connect(t, mc.gw, f, pgx.QueryExecModeCacheStatement)
	defer cl.c.Close(context.Background())
	r := &clientRun{config: mc, client: client, wire: cl.rec, outcomes: map[int]outcome{}}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var o outcome
		var err error
		if client == "pgx-execparams" {
			res := cl.c.PgConn().ExecParams(ctx, c.sql, nil, nil, nil, []int16{pgx.BinaryFormatCode}).Read()
			err = res.Err
			for _, row := range res.Rows {
				for _, v := range row {
					r.decoded.Write(v)
					r.decoded.WriteByte(0)
				}
			}
			o = outcome{state: "ok", rows: len(res.Rows)}
		} else {
			var rows pgx.Rows
			rows, err = cl.c.Query(ctx, c.sql, pgx.QueryResultFormats{pgx.BinaryFormatCode})
			n := 0
			if err == nil {
				for rows.Next() {
					vals, verr := rows.Values()
					if verr != nil {
						o = outcome{state: "fail", msg: verr.Error()}
						break
					}
					for _, v := range vals {
						flatten(&r.decoded, v)
					}
					n++
				}
				rows.Close()
				err = rows.Err()
			}
			if o.state == "" {
				o = outcome{state: "ok", rows: n}
			}
		}
		cancel()
		var pe *pgconn.PgError
		switch {
		case err == nil:
		case errors.As(err, &pe):
			o = outcome{state: "err", code: pe.Code, msg: pgErrorText(pe)}
			r.decoded.WriteString(pgErrorText(pe))
		default:
			o = outcome{state: "fail", msg: redact(err.Error(), f.PANs)}
		}
		r.outcomes[c.id] = o
	}
	for _, n := range cl.takeNotices() {
		r.decoded.WriteString(pgErrorText((*pgconn.PgError)(n)))
	}
	return r
}

// scanClient looks for PANs in what a client received: as is, with Unicode digits read as ASCII and
// invisible characters dropped (the detector also joins digits over single spaces and dashes).
func scanClient(d *detector, where string, b []byte) []finding {
	return append(d.scan(where, b), d.scan(where+", Unicode read as ASCII", normalise(string(b)))...)
}

// scanStored is scanClient plus digits joined across every character but letters: the storage detector's
// promise for texts pangate stores or emits (docs/masking.md, "What is stored").
func scanStored(d *detector, where string, b []byte) []finding {
	fs := scanClient(d, where, b)
	for _, fd := range d.scan(where+", separators removed", joinAll(normalise(string(b)))) {
		if fd.kind == "digits" || fd.kind == "grouped digits" || fd.kind == "hex of the digits" {
			fs = append(fs, fd)
		}
	}
	return fs
}

// joinAll drops every byte that is neither an ASCII letter nor a digit when digits stand on both sides of
// the run it belongs to ("4111.1111,1111 | 1111" → "4111111111111111").
func joinAll(b []byte) []byte {
	alnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		if alnum(b[i]) {
			out = append(out, b[i])
			i++
			continue
		}
		j := i
		for j < len(b) && !alnum(b[j]) {
			j++
		}
		if !(len(out) > 0 && digit(out[len(out)-1]) && j < len(b) && digit(b[j])) {
			out = append(out, b[i:j]...)
		}
		i = j
	}
	return out
}

// without returns a detector without the patterns of the given kinds.
func (d *detector) without(kinds ...string) *detector {
	out := &detector{}
	for _, p := range d.pats {
		skip := false
		for _, k := range kinds {
			skip = skip || p.kind == k
		}
		if !skip {
			out.pats = append(out.pats, p)
		}
	}
	return out
}

// addMoney adds the binary money forms (whole units, stored × 100) of every PAN that fits.
func addMoney(d *detector, pans []string) {
	for _, p := range pans {
		n, ok := new(big.Int).SetString(p, 10)
		if !ok || len(p) > 16 {
			continue
		}
		d.pats = append(d.pats, pattern{pan: p, kind: "binary money units", b: binary.BigEndian.AppendUint64(nil, n.Uint64()*100)})
	}
}

// jdbcJar is the PostgreSQL JDBC driver's path (the classpath of the source-launched client).
func jdbcJar(t *testing.T) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	jar := filepath.Join(home, ".m2/repository/org/postgresql/postgresql/42.7.4/postgresql-42.7.4.jar")
	if _, err := os.Stat(jar); err != nil {
		t.Fatalf("PostgreSQL JDBC driver not found at %s: fetch it with: mvn -q dependency:get -Dartifact=org.postgresql:postgresql:42.7.4", jar)
	}
	return jar
}

// relay is a TCP relay in front of a gateway that records, per client name, every byte the gateway sent:
// the wire capture of the clients that run as their own processes.
type relay struct {
	port string
	ln   net.Listener
	mu   sync.Mutex
	recs map[string]*recorder
	sent map[*recorder]*recorder // a client's recorder → the bytes that client sent
}

func startRelay(t *testing.T, gwPort string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, recs: map[string]*recorder{}, sent: map[*recorder]*recorder{}}
	_, r.port, _ = net.SplitHostPort(ln.Addr().String())
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c, gwPort)
		}
	}()
	return r
}

// recorder returns the recorder for a client; the relay attributes a connection to the client whose
// token subject ("h13-<client>") appears in the startup or password message.
func (r *relay) recorder(client string) *recorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := &recorder{}
	r.recs["h13-"+client] = rec
	r.sent[rec] = &recorder{}
	return rec
}

// sentBy returns the bytes the client of recorder rec sent to the gateway.
func (r *relay) sentBy(rec *recorder) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.sent[rec]; s != nil {
		return s.take()
	}
	return nil
}

func (r *relay) serve(c net.Conn, gwPort string) {
	defer c.Close()
	up, err := net.Dial("tcp", "127.0.0.1:"+gwPort)
	if err != nil {
		return
	}
	defer up.Close()
	// The client speaks first: read until its password message shows whose connection this is. The
	// subject is inside the JWT's payload (base64url), so attribution decodes tokens of the message.
	var rec atomic.Pointer[recorder]
	var seen bytes.Buffer
	done := make(chan struct{})
	var once sync.Once
	attribute := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		for sub, x := range r.recs {
			if tokenMentions(seen.Bytes(), sub) {
				rec.Store(x)
			}
		}
	}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if rec.Load() == nil {
					seen.Write(buf[:n])
					attribute()
					if x := rec.Load(); x != nil {
						r.mu.Lock()
						snt := r.sent[x]
						r.mu.Unlock()
						snt.mu.Lock()
						snt.buf.Write(seen.Bytes())
						snt.mu.Unlock()
					}
				} else {
					r.mu.Lock()
					snt := r.sent[rec.Load()]
					r.mu.Unlock()
					snt.mu.Lock()
					snt.buf.Write(buf[:n])
					snt.mu.Unlock()
				}
				if _, werr := up.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		once.Do(func() { close(done) })
		up.Close()
	}()
	buf := make([]byte, 32<<10)
	var pending []byte
	for {
		n, err := up.Read(buf)
		if n > 0 {
			if x := rec.Load(); x == nil {
				pending = append(pending, buf[:n]...)
			} else {
				x.mu.Lock()
				x.buf.Write(pending)
				x.buf.Write(buf[:n])
				x.mu.Unlock()
				pending = nil
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	<-done
}

// tokenMentions reports whether b holds a JWT whose payload mentions s.
func tokenMentions(b []byte, s string) bool {
	for _, part := range bytes.FieldsFunc(b, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) {
		segs := bytes.Split(part, []byte("."))
		if len(segs) != 3 {
			continue
		}
		if dec, err := b64url(segs[1]); err == nil && bytes.Contains(dec, []byte(`"`+s+`"`)) {
			return true
		}
	}
	return false
}

// indexer is the real indexer binary consuming the test's topics into ClickHouse database h13_panleak.
type indexer struct {
	*stack.Indexer
	db string
}

const h13Database = "h13_panleak"

// startIndexer drops database h13_panleak (a previous run's rows never count) and runs the indexer over the
// topics of prefix, ingesting as the operator (the stack's indexer user may only use database pangate).
func startIndexer(t *testing.T, f *fixture, prefix string) *indexer {
	t.Helper()
	ix := &indexer{db: h13Database}
	// Dropped (with its <db>_ingest) first and at cleanup; registered before the indexer's own cleanup, so
	// the drop runs after the indexer has stopped.
	stack.ClickHouseDatabase(t, ix.db)
	group := stack.UniqueName(t, "h13g")
	ix.Indexer = stack.StartIndexer(t, stack.IndexerOptions{
		Instance:   "h13-panleak-indexer",
		Prefix:     prefix,
		Brokers:    stack.Env(t).KafkaBrokers,
		Group:      group,
		InstanceID: group + "-1",
		Database:   ix.db,
		ShowLog:    func(l string) string { return redact(l, f.PANs) },
		// Not waited for: the matrix runs while the indexer migrates and joins its group; waitEvents waits.
		NoWait: true,
	})
	return ix
}

func (ix *indexer) logs() []string { return ix.Lines() }

// waitEvents waits until the events table holds want distinct events (every Kafka record read).
func (ix *indexer) waitEvents(t *testing.T, want int) int {
	t.Helper()
	ch := stack.ClickHouse(t)
	deadline := time.Now().Add(90 * time.Second)
	var got uint64
	var err error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = ch.QueryRow(ctx, "SELECT count() FROM (SELECT event_id FROM "+ix.db+".events FINAL)").Scan(&got)
		cancel()
		if err == nil && int(got) >= want {
			return int(got)
		}
		select {
		case <-ix.Done():
			t.Fatalf("indexer exited with %d of %d events in ClickHouse:\n%s", got, want, strings.Join(ix.logs(), "\n"))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ClickHouse %s.events holds %d of the %d events in Kafka after 90s (last error %v)", ix.db, got, want, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

type chScan struct{ rows, values int }

// scanClickHouse reads every column (as text) of every row of every table of the database and hands each
// value to check; views are skipped (their rows are the tables').
func (ix *indexer) scanClickHouse(t *testing.T, check func(where string, row []string, v string)) chScan {
	t.Helper()
	ch := stack.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rows, err := ch.Query(ctx, "SELECT table, name FROM system.columns WHERE database = ? AND table IN (SELECT name FROM system.tables WHERE database = ? AND engine NOT LIKE '%View')", ix.db, ix.db)
	if err != nil {
		t.Fatalf("list columns of %s: %v", ix.db, err)
	}
	cols := map[string][]string{}
	for rows.Next() {
		var tb, c string
		if err := rows.Scan(&tb, &c); err != nil {
			t.Fatal(err)
		}
		cols[tb] = append(cols[tb], c)
	}
	rows.Close()
	var tables []string
	for tb := range cols {
		tables = append(tables, tb)
	}
	sort.Strings(tables)
	if len(tables) == 0 {
		t.Fatalf("ClickHouse database %s has no tables", ix.db)
	}
	var s chScan
	perTable := map[string]int{}
	for _, tb := range tables {
		var exprs []string
		for _, c := range cols[tb] {
			exprs = append(exprs, fmt.Sprintf("toString(`%s`)", c))
		}
		rs, err := ch.Query(ctx, fmt.Sprintf("SELECT %s FROM %s.`%s`", strings.Join(exprs, ", "), ix.db, tb))
		if err != nil {
			t.Fatalf("read %s.%s: %v", ix.db, tb, err)
		}
		vals := make([]string, len(cols[tb]))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rs.Next() {
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s.%s: %v", ix.db, tb, err)
			}
			for i, v := range vals {
				check(fmt.Sprintf("%s.%s row %d column %s", ix.db, tb, perTable[tb], cols[tb][i]), vals, v)
				s.values++
			}
			perTable[tb]++
			s.rows++
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("read %s.%s: %v", ix.db, tb, err)
		}
		rs.Close()
	}
	for _, tb := range []string{"events", "sessions", "statements"} {
		if perTable[tb] == 0 {
			t.Errorf("ClickHouse %s.%s is empty: the trail did not arrive", ix.db, tb)
		}
	}
	t.Logf("ClickHouse rows per table: %v", perTable)
	return s
}

// readToEnd reads every record of the topics, up to their end offsets at the time of the call.
func readToEnd(t *testing.T, topics ...string) []*kgo.Record {
	t.Helper()
	cl := stack.Kafka(t, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatalf("end offsets of %v: %v", topics, err)
	}
	left := map[string]map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			if left[o.Topic] == nil {
				left[o.Topic] = map[int32]int64{}
			}
			left[o.Topic][o.Partition] = o.Offset
		}
	})
	remaining := 0
	for _, ps := range left {
		remaining += len(ps)
	}
	var recs []*kgo.Record
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %v: %d partitions not read to their end within 60s", topics, remaining)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := left[r.Topic][r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			recs = append(recs, r)
			if r.Offset == end-1 {
				delete(left[r.Topic], r.Partition)
				remaining--
			}
		})
	}
	return recs
}

func b64url(b []byte) ([]byte, error) { return base64.RawURLEncoding.DecodeString(string(b)) }

// TestSampleSplitPANMasked pins a leak this package found: a PAN split across two adjacent cells of a
// result's sample (two columns of a row, or two rows) was stored whole in query.executed (Kafka, then
// ClickHouse statements.sample, events.data and events.record), because each sample value passed the
// storage detector on its own. internal/mask now reads neighbouring values as one run (samplesplit.go).
// The client stream is not at fault (split values are a documented limit there); the stored trail was.
// Content-scanning configuration (no tags: with tags the columns are masked whole and substr() is held).
func TestSampleSplitPANMasked(t *testing.T) {
	start := time.Now()
	f := newFixture(t)
	g := startGatewayOpts(t, f, gwOpts{mask: gatewayconfig.Mask{}})
	t.Logf("gateway serving (%v)", time.Since(start).Round(time.Millisecond))
	det := newDetector(f.PANs)
	cl := connect(t, g, f, pgx.QueryExecModeSimpleProtocol)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, sql := range []string{
		// The sample is kept when the gateway masked a value of the result: pan itself, masked by content.
		"SELECT pan, substr(pan, 1, 8) AS a, substr(pan, 9) AS b FROM " + f.Table + " ORDER BY id",            // two columns
		"SELECT unnest(ARRAY[pan, substr(pan, 1, 8), substr(pan, 9)]) AS a FROM " + f.Table + " WHERE id = 1", // two rows
	} {
		rows, err := cl.c.Query(ctx, sql)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil || n == 0 {
			t.Fatalf("%s: %d rows, %v: the statement did not really run", sql, n, err)
		}
	}
	cl.c.Close(context.Background())
	t.Logf("statements ran (%v)", time.Since(start).Round(time.Millisecond))
	g.Stop()
	t.Logf("gateway stopped (%v)", time.Since(start).Round(time.Millisecond))
	samples := 0
	types := map[string]int{}
	for _, r := range readToEnd(t, g.Topic) {
		e, err := schemas.Parse(r.Value)
		types[e.Type]++
		if err != nil || e.Type != schemas.TypeQueryExecuted {
			continue
		}
		var qe schemas.QueryExecuted
		if err := e.Decode(&qe); err != nil {
			t.Fatal(err)
		}
		if qe.Sample == nil || len(qe.Sample.Rows) == 0 {
			continue
		}
		samples++
		b, _ := json.Marshal(qe.Sample)
		for _, fd := range scanStored(det, "query.executed sample of "+qe.Statement.SQL, b) {
			t.Errorf("LEAK %s: %s", fd, redact(string(b), f.PANs))
		}
	}
	if samples < 2 {
		t.Fatalf("%d query.executed events with a sample, want 2 (events by type: %v)", samples, types)
	}
}
