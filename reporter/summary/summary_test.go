package summary

import (
	"html/template"
	"strings"
	"testing"
)

func TestPageEscapesAndDrawsCharts(t *testing.T) {
	ch := BarChart{Title: "Statements per day", Series: []string{"ok", "blocked"}, Bars: []Bar{{Label: "2026-11-02", Values: []int64{5, 2}}, {Label: "<script>x</script>", Values: []int64{1, 0}}}}
	svg := ch.SVG()
	if strings.Contains(svg, "<script>") || !strings.Contains(svg, "&lt;script&gt;") || strings.Count(svg, "<rect") < 4 {
		t.Fatalf("svg: %s", svg)
	}
	if empty := (BarChart{Title: "x"}).SVG(); !strings.Contains(empty, "No data") {
		t.Fatalf("empty chart: %s", empty)
	}
	page, err := Render(Page{Title: "t", From: "a", To: "b", Empty: true, SignOff: true, Charts: []Chart{{Title: "c", SVG: template.HTML(svg)}},
		Exceptions: Table{Columns: []string{"detail"}, Rows: [][]string{{"<b>SELECT</b>"}}, Total: 3}})
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, want := range []string{"The period holds no events", "Reviewer sign-off", "&lt;b&gt;SELECT", "Showing 1 of 3 rows", "<svg"} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
