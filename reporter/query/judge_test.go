package query

import (
	"fmt"
	"strings"
	"testing"
)

// The whole-table judges as they were before the populations were streamed (issue 16): the row-fed judges
// must give the same result and why on every table.
func oldJudgeRows(t *Table) (string, string) {
	if len(t.Rows) == 0 {
		return ResultNotEvidenced, "no rows in the period: either no such event happened or it was not logged; sample the system another way"
	}
	return ResultMet, fmt.Sprintf("%d row(s) recorded in the period", len(t.Rows))
}

func oldJudgeClock(t *Table) (string, string) {
	if len(t.Rows) == 0 {
		return ResultNotEvidenced, "no gateway started in the period, so no clock was recorded; ask for the gateways' time-synchronisation settings"
	}
	inst, src, synced, raw := columnOf(t.Columns, "instance"), columnOf(t.Columns, "clock_source"), columnOf(t.Columns, "clock_synced"), columnOf(t.Columns, "clock_detail")
	var bad []string
	for _, r := range t.Rows {
		if r[synced] != "1" || r[src] == "" {
			bad = append(bad, fmt.Sprintf("%s: clock unsynchronised or unknown (source %q, record %s)", r[inst], r[src], r[raw]))
		}
	}
	if len(bad) > 0 {
		return ResultExceptions, strings.Join(bad, "; ")
	}
	return ResultMet, fmt.Sprintf("%d gateway start(s), every clock reported synchronised", len(t.Rows))
}

func oldJudgeSteps(t *Table) (string, string) {
	if len(t.Rows) == 0 {
		return ResultNotEvidenced, "no statement in the period named a reasoning step (step, branch, thought or traceparent in a sqlcommenter comment, docs/context.md): the why of each statement is only its session's identity and claims"
	}
	chd := columnOf(t.Columns, "cardholder_statements")
	n := 0
	for _, r := range t.Rows {
		if r[chd] != "0" {
			n++
		}
	}
	return ResultMet, fmt.Sprintf("%d reasoning step(s) named by their statements, %d of them touched cardholder data", len(t.Rows), n)
}

// TestRowJudgesMatchWholeTableJudges: each population's row-fed judge, fed the rows one at a time through
// a reused slice (as StreamRows hands them over), says what the whole-table judge said.
func TestRowJudgesMatchWholeTableJudges(t *testing.T) {
	clockCols := []string{"ts", "instance", "version", "run", "clock_source", "clock_synced", "clock_offset_us", "clock_detail"}
	stepsCols := []string{"run", "session", "subject", "step", "branch", "thought", "purpose", "ticket", "trace_id", "statements", "cardholder_statements"}
	clockRow := func(inst, src, synced string) []string {
		return []string{"2026-10-01T00:00:00Z", inst, "v1", "run-" + inst, src, synced, "12", `{"source":"` + src + `"}`}
	}
	stepsRow := func(step, chd string) []string { return []string{"r", "s", "sub", step, "", "", "", "", "", "3", chd} }
	clockJudge, stepsJudge := popJudge(t, "populations/10.6-clock.csv"), popJudge(t, StepsFile)
	cases := []struct {
		name  string
		judge func([]string) RowJudge
		old   func(*Table) (string, string)
		table *Table
	}{
		{"rows/empty", JudgeRows, oldJudgeRows, &Table{Columns: []string{"a"}}},
		{"rows/three", JudgeRows, oldJudgeRows, &Table{Columns: []string{"a"}, Rows: [][]string{{"1"}, {"2"}, {"3"}}}},
		{"clock/empty", clockJudge, oldJudgeClock, &Table{Columns: clockCols}},
		{"clock/synced", clockJudge, oldJudgeClock, &Table{Columns: clockCols, Rows: [][]string{clockRow("gw1", "ntp", "1"), clockRow("gw2", "chrony", "1")}}},
		{"clock/unsynced and unknown", clockJudge, oldJudgeClock, &Table{Columns: clockCols, Rows: [][]string{
			clockRow("gw1", "ntp", "1"), clockRow("gw2", "ntp", "0"), clockRow("gw3", "", "1"), clockRow("gw4", "ptp", "0")}}},
		{"steps/empty", stepsJudge, oldJudgeSteps, &Table{Columns: stepsCols}},
		{"steps/some cardholder", stepsJudge, oldJudgeSteps, &Table{Columns: stepsCols, Rows: [][]string{stepsRow("a", "0"), stepsRow("b", "2"), stepsRow("c", "0"), stepsRow("d", "1")}}},
		{"steps/none cardholder", stepsJudge, oldJudgeSteps, &Table{Columns: stepsCols, Rows: [][]string{stepsRow("a", "0")}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantRes, wantWhy := c.old(c.table)
			j := c.judge(c.table.Columns)
			buf := make([]string, len(c.table.Columns))
			for _, r := range c.table.Rows {
				copy(buf, r)
				j.Row(buf)
				for i := range buf {
					buf[i] = "overwritten" // the judge must not keep the slice it was handed
				}
			}
			if res, why := j.Result(); res != wantRes || why != wantWhy {
				t.Fatalf("row-fed judge: %s, %q\nwhole-table judge: %s, %q", res, why, wantRes, wantWhy)
			}
			if res, why := JudgeTable(c.judge(c.table.Columns), c.table); res != wantRes || why != wantWhy {
				t.Fatalf("JudgeTable: %s, %q, want %s, %q", res, why, wantRes, wantWhy)
			}
		})
	}
}

// popJudge is the judge the population named file declares (so the test follows the Populations list).
func popJudge(t *testing.T, file string) func([]string) RowJudge {
	t.Helper()
	for _, p := range Populations {
		if p.File == file {
			if p.Judge == nil {
				t.Fatalf("population %s has no judge of its own", file)
			}
			return p.Judge
		}
	}
	t.Fatalf("no population %s", file)
	return nil
}
