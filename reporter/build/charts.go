package build

import (
	"strconv"

	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/reporter/summary"
)

func num(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// makeCharts turns the chart queries into SVG figures.
func makeCharts(cd map[string]query.Chart) []summary.Chart {
	var out []summary.Chart
	if c, ok := cd["statements_per_day"]; ok {
		ch := summary.BarChart{Title: "Statements per day", Series: []string{"ok", "blocked", "error"}}
		for _, r := range c.Table.Rows { // day, statements, blocked, errors, cardholder
			total, blocked, errs := num(r[1]), num(r[2]), num(r[3])
			ch.Bars = append(ch.Bars, summary.Bar{Label: r[0], Values: []int64{total - blocked - errs, blocked, errs}})
		}
		out = append(out, summary.Chart{Title: ch.Title, SVG: safe(ch.SVG()), SQL: c.SQL})
	}
	if c, ok := cd["cardholder_by_identity"]; ok {
		ch := summary.BarChart{Title: "Cardholder-data access by identity (top 15)", Series: []string{"statements"}, Horizontal: true}
		for _, r := range c.Table.Rows {
			ch.Bars = append(ch.Bars, summary.Bar{Label: r[0], Values: []int64{num(r[1])}})
		}
		out = append(out, summary.Chart{Title: ch.Title, SVG: safe(ch.SVG()), SQL: c.SQL})
	}
	if c, ok := cd["approval_outcomes"]; ok {
		ch := summary.BarChart{Title: "Approval outcomes (bar label: outcome; hover for latency)", Series: []string{"approvals"}, Horizontal: true}
		for _, r := range c.Table.Rows { // outcome, approvals, avg, max
			label := r[0]
			if label == "" {
				label = "pending"
			}
			ch.Bars = append(ch.Bars, summary.Bar{Label: label + " (avg " + r[2] + " ms, max " + r[3] + " ms)", Values: []int64{num(r[1])}})
		}
		out = append(out, summary.Chart{Title: "Approval outcomes and latency", SVG: safe(ch.SVG()), SQL: c.SQL})
	}
	if c, ok := cd["approval_latency"]; ok {
		ch := summary.BarChart{Title: "Approval decision latency", Series: []string{"decisions"}, Horizontal: true}
		for _, r := range c.Table.Rows {
			ch.Bars = append(ch.Bars, summary.Bar{Label: r[0], Values: []int64{num(r[2])}})
		}
		out = append(out, summary.Chart{Title: ch.Title, SVG: safe(ch.SVG()), SQL: c.SQL})
	}
	if c, ok := cd["auth_failures_per_day"]; ok {
		// day, reason, failures → one stacked bar per day, one series per reason
		reasons := map[string]int{}
		var names []string
		days := map[string]map[string]int64{}
		var order []string
		for _, r := range c.Table.Rows {
			if _, ok := reasons[r[1]]; !ok {
				reasons[r[1]] = len(names)
				names = append(names, r[1])
			}
			if days[r[0]] == nil {
				days[r[0]] = map[string]int64{}
				order = append(order, r[0])
			}
			days[r[0]][r[1]] += num(r[2])
		}
		ch := summary.BarChart{Title: "Authentication failures per day", Series: names}
		for _, d := range order {
			vals := make([]int64, len(names))
			for rs, n := range days[d] {
				vals[reasons[rs]] = n
			}
			ch.Bars = append(ch.Bars, summary.Bar{Label: d, Values: vals})
		}
		out = append(out, summary.Chart{Title: ch.Title, SVG: safe(ch.SVG()), SQL: c.SQL})
	}
	return out
}
