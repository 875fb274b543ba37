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

// TestSignOffIsNotAFormOnTheSignedPage is issue 15.7: review.html had a sign-off table to fill in, and
// filling it in broke the package's signature. The page now says how to record a signed review instead.
func TestSignOffIsNotAFormOnTheSignedPage(t *testing.T) {
	page, err := Render(Page{Title: "daily", SignOff: true})
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	if strings.Contains(html, `class="sign"`) || strings.Contains(html, "<th>Signature</th>") {
		t.Error("review.html still has a sign-off form to fill in on a signed file")
	}
	if !strings.Contains(html, "reporter review -package") {
		t.Error("review.html does not say how to record the review")
	}
}
