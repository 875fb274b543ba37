package build

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/reporter/summary"
)

// layoutProbe is appended to a copy of summary.html (the package's page has no script): it measures what
// Chromium drew and writes the facts as JSON into <pre id="layout">, which --dump-dom prints.
const layoutProbe = `<script>
const out = {overflowX: document.documentElement.scrollWidth - window.innerWidth, charts: []};
for (const svg of document.querySelectorAll('svg')) {
  const box = svg.getBoundingClientRect();
  const c = {label: svg.getAttribute('aria-label'), outside: [], yticks: svg.querySelectorAll('text.ytick').length, rare: []};
  for (const el of svg.querySelectorAll('text, rect, circle')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1) {
      c.outside.push((el.textContent || el.tagName).slice(0, 60));
    }
  }
  for (const el of svg.querySelectorAll('rect')) {
    const t = el.querySelector('title');
    if (t && / blocked: 1$/.test(t.textContent)) c.rare.push(el.getBoundingClientRect().height);
  }
  out.charts.push(c);
}
const pre = document.createElement('pre'); pre.id = 'layout'; pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>`

type layoutFacts struct {
	OverflowX float64 `json:"overflowX"`
	Charts    []struct {
		Label   string    `json:"label"`
		Outside []string  `json:"outside"`
		YTicks  int       `json:"yticks"`
		Rare    []float64 `json:"rare"`
	} `json:"charts"`
}

// chromium finds the headless browser the test drives; it installs nothing (Taskfile task clients does).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed: the summary page's layout is checked in a real browser. Install it with `go tool task clients` (apt-get install -y chromium) and run the test again")
	return ""
}

// TestSummaryLayoutInChromium is issue 15.10, reviewed as a person would: the summary pages of a 1-day and
// a 30-day package are rendered by headless Chromium, screenshots are kept as test artefacts
// (PANGATE_ARTEFACTS=DIR keeps them, else the test's temporary directory), and what was drawn is measured:
// every chart element inside its SVG (identity labels were cut off), at least three y-axis ticks (only 0
// and max were labelled), a visible mark for a day with 1 blocked statement among days with thousands
// (it was 0 px high), and no page wider than the window (the clock table overflowed).
func TestSummaryLayoutInChromium(t *testing.T) {
	bin := chromium(t)
	out := os.Getenv("PANGATE_ARTEFACTS")
	if out == "" {
		out = t.TempDir()
	}
	for _, days := range []int{1, 30} {
		t.Run(fmt.Sprintf("%dday", days), func(t *testing.T) {
			page := layoutPage(days)
			b, err := summary.Render(page)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(out, fmt.Sprintf("summary-%dday", days))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			plain := filepath.Join(dir, "summary.html")
			probed := filepath.Join(dir, "summary-probe.html")
			if err := os.WriteFile(plain, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(probed, []byte(strings.Replace(string(b), "</body>", layoutProbe+"</body>", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			shot := filepath.Join(dir, "summary.png")
			run(t, bin, "--screenshot="+shot, "--window-size=1280,3600", "file://"+plain)
			t.Logf("screenshot: %s", shot)
			dom := run(t, bin, "--dump-dom", "--window-size=1280,1000", "--virtual-time-budget=3000", "file://"+probed)
			m := regexp.MustCompile(`(?s)<pre id="layout">(.*?)</pre>`).FindStringSubmatch(dom)
			if m == nil {
				t.Fatalf("Chromium's DOM has no layout facts:\n%.2000s", dom)
			}
			var f layoutFacts
			if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &f); err != nil {
				t.Fatalf("layout facts %q: %v", m[1], err)
			}
			if f.OverflowX > 0 {
				t.Errorf("the page is %.0f px wider than a 1280 px window (a table or chart overflows)", f.OverflowX)
			}
			if len(f.Charts) < 3 {
				t.Fatalf("%d charts drawn, want at least 3: %+v", len(f.Charts), f)
			}
			rareSeen := false
			for _, c := range f.Charts {
				if len(c.Outside) > 0 {
					t.Errorf("chart %q: drawn outside its SVG (cut off): %q", c.Label, c.Outside)
				}
				if c.Label == "Statements per day" && c.YTicks < 3 {
					t.Errorf("chart %q: %d y-axis ticks, want at least 3", c.Label, c.YTicks)
				}
				for _, h := range c.Rare {
					rareSeen = true
					if h < 2 {
						t.Errorf("chart %q: the day with 1 blocked statement is drawn %.1f px high: invisible", c.Label, h)
					}
				}
			}
			if days == 30 && !rareSeen {
				t.Error("no bar for the day with 1 blocked statement")
			}
		})
	}
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--user-data-dir=" + t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// layoutPage is a summary page with the charts of a days-long period as the reporter draws them: thousands
// of statements a day with 1 blocked on one day, identities with long workload subjects, and a clock table
// with a long raw clock record.
func layoutPage(days int) summary.Page {
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	perDay := &query.Table{Columns: []string{"day", "statements", "blocked", "errors", "cardholder"}}
	for d := 0; d < days; d++ {
		n, blocked := 2000+int64(d*137%3000), int64(0)
		if d == days/2 {
			blocked = 1
		}
		perDay.Rows = append(perDay.Rows, []string{start.AddDate(0, 0, d).Format("2006-01-02"), strconv.FormatInt(n, 10), strconv.FormatInt(blocked, 10), "0", "12"})
	}
	ids := &query.Table{Columns: []string{"identity", "statements"}}
	for i, id := range []string{
		"https://token.actions.githubusercontent.com repo:acme-corporation/payments-settlement-nightly-reconciliation:ref:refs/heads/main",
		"system:serviceaccount:payments:tot-nightly",
		"alice.longname-approver@payments.acme-corporation.example",
	} {
		ids.Rows = append(ids.Rows, []string{id, strconv.Itoa(40000 / (i + 1))})
	}
	appr := &query.Table{Columns: []string{"outcome", "approvals", "avg_ms", "max_ms"}, Rows: [][]string{{"approved", "12", "45210", "310000"}, {"denied", "1", "9000", "9000"}, {"", "1", "0", "0"}}}
	charts := makeCharts(map[string]query.Chart{
		"statements_per_day":     {Table: perDay, SQL: "SELECT …"},
		"cardholder_by_identity": {Table: ids, SQL: "SELECT …"},
		"approval_outcomes":      {Table: appr, SQL: "SELECT …"},
	})
	clock := summary.Table{Columns: []string{"time", "instance", "run", "clock_source", "clock_synced", "clock_offset_us", "clock_max_error_us", "clock_detail"}}
	for i := 0; i < 3; i++ {
		clock.Rows = append(clock.Rows, []string{"2026-10-01T00:00:00.000000Z", "payments-gateway-" + strconv.Itoa(i) + ".prod.eu-west-1.internal", "01a24cbf-c642-715b-b91d-92a68fd8d0b2",
			"adjtimex", "0", "0", "16000000", `{"source":"adjtimex","status":"unsynchronised","maxerror_us":16000000,"esterror_us":16000000,"offset_us":0,"freq":-1234567,"tick":10000,"tai":37,"constant":7,"precision":1}`})
	}
	return summary.Page{Title: "pangate evidence package", Kind: "package", From: start.Format(time.RFC3339), To: start.AddDate(0, 0, days).Format(time.RFC3339),
		Generator: "test", Database: "pangate", Gateways: []string{"gw-1"}, Charts: charts, Clock: clock,
		Exceptions: summary.Table{Columns: []string{"time", "kind", "detail"}, Rows: [][]string{{"2026-10-15T10:00:00Z", "statement_blocked", "COPY cards TO STDOUT"}}}}
}
