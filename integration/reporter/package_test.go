package reporter_test

import (
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/build"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/scenario"
	"github.com/pangate/pangate/reporter/transcript"
	"github.com/pangate/pangate/reporter/verify"
	"github.com/pangate/pangate/schemas"
)

var (
	day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	t0   = day0.Add(9 * time.Hour)
)

// world is the seeded scenario with the ids tests need.
type world struct {
	b          *scenario.Builder
	s1, s2, s3 *scenario.Session
	gw, gw2    *scenario.Gateway
}

// knownDay builds one day with known statements, approvals, failures and credentials. With silent, a
// second gateway goes quiet for ten minutes (five checkpoint intervals).
func knownDay(en *env, silent bool) *world {
	b := scenario.New(t0)
	b.Prefix = en.prefix
	w := &world{b: b}
	w.gw = b.Gateway("gw-1", en.key, time.Minute)
	if silent {
		w.gw2 = b.Gateway("gw-2", en.key, time.Minute)
	}
	b.Advance(10 * time.Second)
	w.s1 = w.gw.Session(scenario.Identity{Subject: "repo:acme/etl"})
	w.s1.Query(scenario.Statement("SELECT pan FROM cards", "read", []string{"cards"}, true), "ok", 3, nil)
	w.s1.Query(scenario.Statement("SELECT 1", "read", nil, false), "ok", 1, nil)
	w.s1.Query(scenario.Statement("GRANT etl_reader TO etl_batch", "role", nil, false), "ok", 0, nil)
	w.s1.Hold(scenario.Statement("ALTER TABLE cards ADD COLUMN note text", "ddl", []string{"cards"}, true), "approved", 20*time.Second)
	b.Advance(90 * time.Second)
	w.s1.End()
	w.s2 = w.gw.Session(scenario.Identity{Subject: "alice@example.com", Human: true, Addr: "10.9.9.9:5555"})
	w.s2.Query(scenario.Statement("SELECT pan FROM cards WHERE id = $1", "read", []string{"cards"}, true), "ok", 1, nil)
	w.s2.Blocked(scenario.Statement("COPY cards TO STDOUT", "copy", []string{"cards"}, true), "policy_deny", nil)
	w.s2.Hold(scenario.Statement("DROP TABLE cards", "ddl", []string{"cards"}, true), "denied", 45*time.Second)
	if silent {
		w.gw2.Silence(10 * time.Minute)
	}
	b.Advance(30 * time.Second)
	w.s2.End()
	w.s3 = w.gw.Session(scenario.Identity{Subject: "svc:report"})
	w.s3.Hold(scenario.Statement("TRUNCATE payments", "ddl", []string{"payments"}, false), "expired", 10*time.Minute)
	w.s3.End()
	w.gw.AuthFailed("mallory", "expired")
	w.gw.AuthFailed("", "bad_signature")
	b.Advance(3 * time.Minute)
	w.gw.Stop()
	if silent {
		w.gw2.Stop()
	}
	return w
}

func readCSV(t *testing.T, dir, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return recs
}

func col(t *testing.T, recs [][]string, name string) []string {
	t.Helper()
	i := -1
	for j, c := range recs[0] {
		if c == name {
			i = j
		}
	}
	if i < 0 {
		t.Fatalf("no column %s in %v", name, recs[0])
	}
	var out []string
	for _, r := range recs[1:] {
		out = append(out, r[i])
	}
	return out
}

func TestPopulationsHaveExactlyTheExpectedRows(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	w := knownDay(en, false)
	en.seed(w.b.Events, w.b.Approvals)
	store := bucket.NewLocal(t.TempDir())
	res, err := en.builder(store, day0.Add(48*time.Hour)).Build(context.Background(), manifest.KindPackage, day0, day0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	dir := res.Location
	if r := verify.Package(dir, en.pub, ""); !r.OK() {
		t.Fatalf("fresh package does not verify: %v", r.Err())
	}
	if !res.Integrity.OK || res.Integrity.Warnings != 0 {
		t.Fatalf("integrity of an untouched store: %+v", res.Integrity.Findings)
	}
	want := map[string]int{
		"populations/10.2.1.1-cardholder-data-access.csv":  5, // s1 SELECT pan, s1 ALTER cards (approved), s2 SELECT pan, s2 COPY (blocked), s2 DROP (blocked)
		"populations/10.2.1.2-admin-actions.csv":           4, // s1 GRANT, three statements of the human session s2
		"populations/10.2.1.3-audit-log-access.csv":        0,
		"populations/10.2.1.4-invalid-access-attempts.csv": 5, // 2 auth failures, COPY blocked, DROP blocked by its denied approval, TRUNCATE by its expired one
		"populations/10.2.1.5-credential-changes.csv":      7, // 3 issued, 3 revoked, 1 GRANT
		"populations/10.2.1.6-audit-log-start-stop.csv":    3, // started, policy.loaded, stopped
		"populations/10.2.1.7-object-changes.csv":          3, // ALTER (approved, ran), DROP (denied), TRUNCATE (expired)
		"populations/8.6.1-approvals.csv":                  3,
		"populations/7.2.4-granted-vs-used.csv":            3,
		"populations/8.6.3-credential-lifetimes.csv":       3,
		"populations/10.6-clock.csv":                       1,
		"populations/sessions.csv":                         3,
		"exceptions.csv":                                   6, // 2 auth, COPY blocked, DROP denied, TRUNCATE expired, human session
		"integrity/10.7-logging-gaps.csv":                  0,
	}
	for name, n := range want {
		recs := readCSV(t, dir, name)
		if got := len(recs) - 1; got != n {
			t.Errorf("%s: %d rows, want %d:\n%v", name, got, n, recs)
		}
		if f := res.Manifest.File(name); f == nil || f.Rows != int64(n) || (strings.HasPrefix(name, "populations/") && !strings.Contains(f.SQL, "FINAL")) {
			t.Errorf("%s: manifest entry %+v", name, f)
		}
	}
	// Spot-check contents, not just counts.
	if t.Failed() {
		return
	}
	chd := readCSV(t, dir, "populations/10.2.1.1-cardholder-data-access.csv")
	subjects := strings.Join(col(t, chd, "subject"), ",")
	if subjects != "repo:acme/etl,repo:acme/etl,alice@example.com,alice@example.com,alice@example.com" {
		t.Errorf("cardholder access subjects: %s", subjects)
	}
	if roles := col(t, chd, "jit_role"); roles[0] != w.s1.Role {
		t.Errorf("cardholder access jit role %s, want %s", roles[0], w.s1.Role)
	}
	appr := readCSV(t, dir, "populations/8.6.1-approvals.csv")
	if got := strings.Join(col(t, appr, "decision_outcome"), ","); got != "approved,denied,expired" {
		t.Errorf("approval outcomes %s", got)
	}
	if got := strings.Join(col(t, appr, "decision_latency_ms"), ","); got != "20000,45000,0" {
		t.Errorf("approval latencies %s", got)
	}
	if got := strings.Join(col(t, appr, "approver_email"), ","); got != "alice@example.com,alice@example.com," {
		t.Errorf("approvers %s", got)
	}
	inv := readCSV(t, dir, "populations/10.2.1.4-invalid-access-attempts.csv")
	if got := strings.Join(col(t, inv, "category"), ","); strings.Count(got, "auth_failed") != 2 || strings.Count(got, "statement_blocked") != 1 ||
		!strings.Contains(got, "approval_denied") || !strings.Contains(got, "approval_expired") {
		t.Errorf("invalid access categories %s", got)
	}
	adm := readCSV(t, dir, "populations/10.2.1.2-admin-actions.csv")
	if got := strings.Join(col(t, adm, "why"), ","); got != "admin_statement,human_session,human_session,human_session" {
		t.Errorf("admin reasons %s", got)
	}
	clock := readCSV(t, dir, "populations/10.6-clock.csv")
	if got := col(t, clock, "clock_source")[0] + "/" + col(t, clock, "clock_offset_us")[0]; got != "chrony/120" {
		t.Errorf("clock facts %s", got)
	}
	// Transcripts of the sessions with exceptions are included and linked.
	for _, s := range []string{w.s2.ID, w.s3.ID} {
		if res.Manifest.File("transcripts/"+s+".txt") == nil {
			t.Errorf("no transcript for session %s with exceptions", s)
		}
	}
	if res.Manifest.File("transcripts/"+w.s1.ID+".txt") != nil {
		t.Errorf("transcript for session %s without exceptions", w.s1.ID)
	}
	html, _ := os.ReadFile(filepath.Join(dir, "summary.html"))
	for _, want := range []string{"<svg", "Statements per day", "VERIFIED", "CC6.1", "A.8.15", "10.2.1.1"} {
		if !strings.Contains(string(html), want) {
			t.Errorf("summary.html lacks %q", want)
		}
	}
	if res.Manifest.Counts["events"] != int64(len(w.b.Events)+len(w.b.Approvals)) {
		t.Errorf("manifest counts %d events, seeded %d", res.Manifest.Counts["events"], len(w.b.Events)+len(w.b.Approvals))
	}
	scanForPAN(t, dir)

	// The transcript command's view of s2, straight from ClickHouse.
	tr, err := build.Transcript(context.Background(), en.q, w.s2.ID)
	if err != nil {
		t.Fatal(err)
	}
	text := tr.Text()
	for _, want := range []string{"login: alice@example.com", "HUMAN using a workload account", "credential issued: JIT role " + w.s2.Role,
		"BLOCKED statement #1 [copy] COPY cards TO STDOUT: policy_deny", "DECISION denied by U042", "credential revoked", "Hash chain: VERIFIED"} {
		if !strings.Contains(text, want) {
			t.Errorf("transcript of %s lacks %q:\n%s", w.s2.ID, want, text)
		}
	}
	if _, err := build.Transcript(context.Background(), en.q, "no-such-session"); !errors.Is(err, transcript.ErrNoSession) {
		t.Errorf("unknown session: %v", err)
	}

	// An empty period still produces a package that says so.
	empty, err := en.builder(store, day0.Add(48*time.Hour)).Build(context.Background(), manifest.KindPackage, day0.Add(72*time.Hour), day0.Add(96*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !empty.Manifest.Empty || empty.Events != 0 || !empty.Integrity.OK {
		t.Fatalf("empty period: empty=%v events=%d ok=%v", empty.Manifest.Empty, empty.Events, empty.Integrity.OK)
	}
	if r := verify.Package(empty.Location, en.pub, res.Location); !r.OK() {
		t.Fatalf("empty package does not verify chained to the first: %v", r.Err())
	}
	page, _ := os.ReadFile(filepath.Join(empty.Location, "summary.html"))
	if !strings.Contains(string(page), "The period holds no events") {
		t.Errorf("empty package's summary does not say the period is empty")
	}
	_ = schemas.TypeAuthFailed
}
