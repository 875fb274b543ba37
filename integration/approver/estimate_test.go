package approver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/schemas"
)

// TestHeldStatementCarriesPlannerEstimate (issue 15, Slack "expected rows: unknown"): the approval request
// of a held UPDATE on a real table carries the planner's row estimate, equal to what EXPLAIN says as the
// table's owner, and Slack shows it; a held UPDATE calling a user function (immutable, constant argument:
// the planner would fold it, that is run it, while planning) gets "unknown", and PostgreSQL's log shows the
// function never ran — while the same EXPLAIN run directly does log it, so the check can fail.
func TestHeldStatementCarriesPlannerEstimate(t *testing.T) {
	prefix, table, role, admin := heldFixture(t)
	ctx := context.Background()
	fn := table + "_f"
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO %s SELECT g, 'm' || g FROM generate_series(6, 40) g`, table),
		fmt.Sprintf(`ANALYZE %s`, table),
		fmt.Sprintf(`CREATE FUNCTION %s(v text) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $$BEGIN RAISE WARNING 'h5 planner ran %%', v; RETURN v; END$$`, fn),
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP FUNCTION IF EXISTS "+fn) })
	update := fmt.Sprintf("UPDATE %s SET note = 'x'", table)
	rows, err := admin.Query(ctx, "EXPLAIN "+update)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	var want int64 = -1
	for _, line := range lines {
		if strings.Contains(line, "Seq Scan") {
			if _, err := fmt.Sscanf(line[strings.Index(line, "rows="):], "rows=%d", &want); err != nil {
				t.Fatalf("EXPLAIN line %q: %v", line, err)
			}
		}
	}
	if want != 40 {
		t.Fatalf("the planner estimates %d rows for %q after ANALYZE (plan %q), want 40", want, update, plan)
	}

	w := newWorldOn(t, prefix+schemas.TopicApprovals)
	ap := w.startApprover(t, "ap-est")
	g := startGateway(t, prefix, role)
	c := g.connect(t, role, "etl-job")
	done := make(chan error, 2)

	// A plannable held UPDATE: the request carries the estimate, Slack shows it.
	go func() { _, err := c.Exec(ctx, update); done <- err }()
	msg, id := w.heldPost(t, table)
	wantLine := fmt.Sprintf("expected rows ≈ %d (planner estimate)", want)
	if !strings.Contains(msg.Blocks, wantLine) {
		t.Errorf("Slack message of the held UPDATE lacks %q:\n%s", wantLine, msg.Blocks)
	}
	req := requestOf(t, w, id)
	if req.ExpectedRows != want {
		t.Errorf("approval.requested expected_rows = %d, want %d", req.ExpectedRows, want)
	}
	if r, _ := click(t, ap, slackuitest.Click{ApprovalID: id, Approve: false, User: "UBOB", MessageTS: msg.TS, Reason: "estimate test"}); r != "decided" {
		t.Fatalf("deny: %s", r)
	}
	waitDone(t, done)

	// The same with a user function the planner would run while planning: unknown, and it did not run.
	logFrom := stack.PGLogOffset(t, admin)
	tag := "h5tag" + strings.ReplaceAll(schemas.NewID(), "-", "")[:16]
	go func() {
		_, err := c.Exec(ctx, fmt.Sprintf("UPDATE %s SET note = %s('%s')", table, fn, tag))
		done <- err
	}()
	var fmsg slackuitest.Message
	var fid string
	eventually(t, "slack post of the held UPDATE calling "+fn, func() bool {
		for _, m := range w.slack.Posts() {
			if sm := buttonValue.FindStringSubmatch(m.Blocks); sm != nil && strings.Contains(m.Blocks, tag) {
				fmsg, fid = m, sm[1]+sm[2]
				return true
			}
		}
		return false
	})
	w.events(t, fid, func(e []schemas.Event) bool { return has(kinds(t, e), "notified") })
	if !strings.Contains(fmsg.Blocks, "expected rows: unknown") || strings.Contains(fmsg.Blocks, "planner estimate") {
		t.Errorf("Slack message of the held UPDATE calling a user function should say \"expected rows: unknown\":\n%s", fmsg.Blocks)
	}
	if req := requestOf(t, w, fid); req.ExpectedRows != 0 {
		t.Errorf("approval.requested of a statement calling a user function has expected_rows %d, want none", req.ExpectedRows)
	}
	if r, _ := click(t, ap, slackuitest.Click{ApprovalID: fid, Approve: false, User: "UBOB", MessageTS: fmsg.TS, Reason: "estimate test"}); r != "decided" {
		t.Fatalf("deny: %s", r)
	}
	waitDone(t, done)
	if got := stack.PGLogText(t, admin, logFrom); strings.Contains(got, tag) {
		t.Errorf("PostgreSQL ran %s('%s') for the held statement (its WARNING is in the server log): the estimate ran user code", fn, tag)
	}
	// The control: planning that statement directly does run the function (so the log check can fail).
	ctl := tag + "ctl"
	if _, err := admin.Exec(ctx, fmt.Sprintf("EXPLAIN UPDATE %s SET note = %s('%s')", table, fn, ctl)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the control's WARNING in PostgreSQL's log", func() bool { return strings.Contains(stack.PGLogText(t, admin, logFrom), ctl) })
}

// requestOf returns the approval.requested of id from the approvals topic.
func requestOf(t *testing.T, w *world, id string) schemas.ApprovalRequested {
	t.Helper()
	var req schemas.ApprovalRequested
	for _, e := range w.events(t, id, func(e []schemas.Event) bool { return has(kinds(t, e), "requested") }) {
		if e.Type == schemas.TypeApprovalRequested {
			if err := e.Decode(&req); err != nil {
				t.Fatal(err)
			}
		}
	}
	return req
}

func waitDone(t *testing.T, done chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "denied") {
			t.Fatalf("denied statement returned %v, want an error saying denied", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("denied statement did not return")
	}
}
