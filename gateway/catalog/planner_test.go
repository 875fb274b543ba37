package catalog

import "testing"

// TestPlanRows: the estimate is the top node's rows, or for UPDATE/DELETE (ModifyTable, 0 rows without
// RETURNING) the rows of the plan under it.
func TestPlanRows(t *testing.T) {
	cases := []struct {
		name, plan string
		want       int64
		err        bool
	}{
		{"select", `[{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 40}}]`, 40, false},
		{"update", `[{"Plan": {"Node Type": "ModifyTable", "Plan Rows": 0, "Plans": [{"Node Type": "Seq Scan", "Plan Rows": 1234}]}}]`, 1234, false},
		{"rounded", `[{"Plan": {"Node Type": "Index Scan", "Plan Rows": 1.6}}]`, 2, false},
		{"not json", `nope`, 0, true},
		{"two plans", `[{"Plan": {}}, {"Plan": {}}]`, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planRows([]byte(tc.plan))
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("planRows(%s) = %d, %v; want %d, error %v", tc.plan, got, err, tc.want, tc.err)
			}
		})
	}
}
