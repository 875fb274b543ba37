package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// show prints what happened, from ClickHouse, and in --ci mode checks it against what the job saw.
func (d *demo) show(ctx context.Context) error {
	d.step("what happened (read back from ClickHouse as the read-only auditor user)")
	ch, err := d.clickhouse("auditor", d.env["PANGATE_CLICKHOUSE_AUDITOR_PASSWORD"])
	if err != nil {
		return err
	}
	defer ch.Close()
	f, err := d.figures(ctx, ch)
	if err != nil {
		return err
	}
	fmt.Printf(`
  sessions                     %d
  statements executed          %d   (the job's session: %d statements recorded)
  statements blocked           %d
  cardholder-data statements   %d
  card numbers masked          %d   (shape first6last4; e.g. %s)
  authentication failures      %d
  approvals                    %d approved, %d denied
`, f.sessions, f.statements, f.jobStatements, f.blocked, f.cardholderReads, f.masked, firstCard(d.summary.CardRows),
		f.authFailures, f.approved, f.denied)
	for _, a := range f.approvals {
		fmt.Printf("    - %s\n", a)
	}
	d.mu.Lock()
	for _, c := range d.clicks {
		fmt.Printf("    (Slack) %s\n", c)
	}
	d.mu.Unlock()
	fmt.Printf("  job summary                  %s\n", d.summaryAt)
	if d.pkgDir != "" {
		fmt.Printf("  evidence package             %s (%s)\n", d.pkgDir, d.pkgVerified)
	}
	fmt.Printf(`
Try next (clickhouse-client --port %s --user auditor --password "$PANGATE_CLICKHOUSE_AUDITOR_PASSWORD"; the
password is in .stack/env):

  -- who touched cardholder data, and which tables
  SELECT subject, arrayJoin(tables) AS t, count() FROM %[2]s.statements FINAL
   ANY LEFT JOIN (SELECT session, subject FROM %[2]s.sessions FINAL) USING session
   WHERE cardholder = 1 GROUP BY subject, t ORDER BY count() DESC;

  -- every statement of the job's session, in order
  SELECT seq, kind, outcome, row_count, masked_total, substring(sql, 1, 80) FROM %[2]s.statements FINAL
   WHERE session = (SELECT any(session) FROM %[2]s.sessions FINAL WHERE application = 'tot-nightly') ORDER BY seq;

  -- approvals with approver and latency
  SELECT approval_id, decision, decided_by_email, latency_ms, reason FROM %[2]s.approvals FINAL
   WHERE event_type = 'approval.decided' ORDER BY time_us;
`, portOf(d.env["PANGATE_CLICKHOUSE_ADDR"]), d.chDatabase)

	if !d.o.ci {
		return nil
	}
	// --ci: the figures must match what the job itself observed, and nothing may leak.
	var problems []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	check(f.jobStatements == uint64(d.summary.Statements), "the job sent %d statements, ClickHouse records %d for its session", d.summary.Statements, f.jobStatements)
	check(f.approved == 1 && f.denied == 1, "want 1 approved and 1 denied decision, ClickHouse has %d and %d", f.approved, f.denied)
	check(len(d.summary.Exports) == 2 && d.summary.Exports[0].Outcome == "completed" && d.summary.Exports[1].Outcome == "refused",
		"the approved export should complete and the denied one be refused: %+v", d.summary.Exports)
	check(f.masked > 0, "no masked values recorded")
	check(f.blocked >= 1, "the denied export is not recorded as blocked")
	var received []string
	received = append(received, d.summary.CardRows...)
	for _, e := range d.summary.Exports {
		received = append(received, e.Sample...)
		received = append(received, e.Error)
	}
	check(len(d.leaks(received...)) == 0, "full card numbers reached the job: %v", d.leaks(received...))
	records, err := d.allRecords(ctx, ch)
	if err != nil {
		return err
	}
	check(len(d.leaks(records...)) == 0, "full card numbers in the audit trail: %v", d.leaks(records...))
	if d.pkgDir != "" {
		check(d.pkgVerified == "verified", "evidence package: %s", d.pkgVerified)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w:\n  - %s", errMismatch, strings.Join(problems, "\n  - "))
	}
	fmt.Println("--ci: every printed figure matches ClickHouse and what the job received; no full PAN anywhere")
	return nil
}

func (d *demo) allRecords(ctx context.Context, ch driver.Conn) ([]string, error) {
	rows, err := ch.Query(ctx, "SELECT record FROM "+d.chDatabase+".events FINAL")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func firstCard(rows []string) string {
	if len(rows) == 0 {
		return "-"
	}
	return strings.Fields(rows[0])[0]
}

func portOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return addr
}
