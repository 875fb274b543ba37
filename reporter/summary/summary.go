// Package summary renders the human-readable pages of an evidence package: the summary a QSA reads
// without tools (scope, period, counts, exceptions, integrity verdict, retention and clock facts, charts as
// inline SVG, the file-to-control index) and the daily review report, which tells the reviewer how to sign
// off as a separate signed review (PCI DSS 10.4.1, reporter/review). Pages are self-contained HTML: no
// script, no external resource.
package summary

import (
	"bytes"
	"fmt"
	"html/template"

	"github.com/pangate/pangate/reporter/integrity"
)

// Cell table for the pages.
type Table struct {
	Columns []string
	Rows    [][]string
	// Total is the number of rows before capping (0: len(Rows)).
	Total int
}

// FileRow is one line of the index.
type FileRow struct {
	Path, Title        string
	Rows               int64
	PCI, SOC2, ISO2700 string
}

// Chart is one figure.
type Chart struct {
	Title string
	SVG   template.HTML
	SQL   string
}

// Verdict is one row of the per-requirement table: what the package tested for a requirement, in which
// files, and the result (met, exceptions, not evidenced) with the reason.
type Verdict struct {
	Framework, Requirement, Tested, Files, Result, Why string
}

// Fact is a label and a value.
type Fact struct{ Label, Value string }

// Page is everything a page shows.
type Page struct {
	Title        string
	Kind         string // package or daily_review
	From, To     string
	GeneratedAt  string
	Generator    string
	Database     string
	Gateways     []string
	Empty        bool
	Verdicts     []Verdict
	Counts       []Fact
	Facts        []Fact // retention, clock, storage, chain
	Exceptions   Table
	Integrity    *integrity.Report
	Findings     Table
	Clock        Table
	Steps        Table // statements per reasoning step (populations/10.2.2-reasoning-steps.csv)
	Charts       []Chart
	Files        []FileRow
	Transcripts  []string // relative paths
	SignOff      bool
	ManifestNote string
}

var tmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"resultClass": func(r string) string {
		switch r {
		case "met":
			return "ok"
		case "exceptions":
			return "bad"
		}
		return "warn"
	},
	"sub": func(a, b int) int { return a - b },
	"capped": func(t Table) string {
		if t.Total > len(t.Rows) {
			return fmt.Sprintf("Showing %d of %d rows; the CSV file has them all.", len(t.Rows), t.Total)
		}
		return ""
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:1100px;color:#1a202c}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
td{max-width:36em}svg{max-width:100%;height:auto}
th{background:#edf2f7}.ok{color:#2f855a;font-weight:bold}.bad{color:#c53030;font-weight:bold}.warn{color:#b7791f}
.note{color:#555;font-size:12px}pre{white-space:pre-wrap;font-size:11px;background:#f7fafc;padding:6px}
.wide{max-width:100%;overflow-x:auto}
</style></head><body>
<h1>{{.Title}}</h1>
<table>
<tr><th>Period (UTC, half-open)</th><td>{{.From}} to {{.To}}</td></tr>
<tr><th>Generated</th><td>{{.GeneratedAt}} by {{.Generator}}</td></tr>
<tr><th>Scope</th><td>ClickHouse database <code>{{.Database}}</code>; gateways: {{range $i, $g := .Gateways}}{{if $i}}, {{end}}{{$g}}{{else}}none seen{{end}}</td></tr>
{{range .Facts}}<tr><th>{{.Label}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{if .Empty}}<p class="bad">The period holds no events. This package exists to record that fact: nothing was logged between {{.From}} and {{.To}}.</p>{{end}}
{{if .Verdicts}}<h2>Verdict per requirement</h2>
<p class="note">met: the files show the control operating with nothing to follow up; exceptions: they show it operating and rows to follow up; not evidenced: this package cannot show it either way. The same table is verdicts.csv.</p>
<table><tr><th>framework</th><th>requirement</th><th>tested</th><th>files</th><th>result</th><th>why</th></tr>
{{range .Verdicts}}<tr><td>{{.Framework}}</td><td>{{.Requirement}}</td><td>{{.Tested}}</td><td>{{.Files}}</td><td class="{{resultClass .Result}}">{{.Result}}</td><td>{{.Why}}</td></tr>
{{end}}</table>{{end}}
<p class="note">Every file below is listed with its SHA-256 in manifest.json, which manifest.sig signs (Ed25519). Check it offline with <code>reporter verify -key PUBLIC.pem DIR</code>.</p>

<h2>Integrity of the audit trail (PCI DSS 10.3.4, 10.7)</h2>
{{with .Integrity}}
<p>{{if .OK}}<span class="ok">VERIFIED</span>{{else}}<span class="bad">FAILED</span>{{end}}:
{{sub .Sessions .RunChains}} session chain(s) and {{.RunChains}} gateway run chain(s) checked ({{.SessionsOK}} of {{.Sessions}} intact), {{.Events}} events, {{len .Runs}} gateway run(s) with checkpoints,
{{.Failures}} failure(s), {{.Warnings}} warning(s).</p>
{{end}}
{{if .Findings.Rows}}<table><tr>{{range .Findings.Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Findings.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table><p class="note">{{capped .Findings}}</p>{{end}}

<h2>Event counts</h2>
<table><tr><th>event type</th><th>events</th></tr>{{range .Counts}}<tr><td>{{.Label}}</td><td>{{.Value}}</td></tr>{{end}}</table>

<h2>Exceptions needing review (PCI DSS 10.4.1)</h2>
{{if .Exceptions.Rows}}<table><tr>{{range .Exceptions.Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Exceptions.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table><p class="note">{{capped .Exceptions}}</p>
{{else}}<p class="ok">No exceptions in the period.</p>{{end}}
{{if .Transcripts}}<p>Transcripts of sessions with exceptions: {{range .Transcripts}}<a href="{{.}}">{{.}}</a> {{end}}</p>{{end}}

{{if .Steps.Rows}}<h2>Statements per reasoning step (PCI DSS 10.2.2)</h2>
<p class="note">Why each statement was sent, as its workload said in a sqlcommenter comment (step, branch, thought, purpose, ticket, trace; docs/context.md): statements, cardholder data touched, blocked statements and approvals per step. The CSV is populations/10.2.2-reasoning-steps.csv; each transcript shows the context of every statement.</p>
<div class="wide"><table><tr>{{range .Steps.Columns}}<th>{{.}}</th>{{end}}</tr>
{{range .Steps.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table></div><p class="note">{{capped .Steps}}</p>{{end}}

{{if .SignOff}}
<h2>Reviewer sign-off (PCI DSS 10.4.1)</h2>
<p>This page is signed: do not write on it (an edited file fails verification). Record the review of the
exceptions above and the integrity result as a signed review, chained to the previous one and stored beside
the package:</p>
<pre>reporter review -package THIS_PACKAGE_DIRECTORY -key YOUR.key -reviewer "Name &lt;email&gt;" -decision no_action|followed_up|escalated -notes "how each exception was followed up" -ticket ID</pre>
<p class="note"><code>reporter verify</code> checks the package and every review of it (reviewer, decision, time, notes, tickets).</p>
{{end}}

{{if .Charts}}<h2>Charts</h2>
{{range .Charts}}<h3>{{.Title}}</h3>{{.SVG}}<details><summary class="note">SQL</summary><pre>{{.SQL}}</pre></details>{{end}}{{end}}

{{if .Clock.Rows}}<h2>Clock facts (PCI DSS 10.6)</h2>
<div class="wide"><table><tr>{{range .Clock.Columns}}<th>{{.}}</th>{{end}}</tr>{{range .Clock.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>{{end}}</table></div><p class="note">{{capped .Clock}}</p>{{end}}

<h2>Index: files and the controls they serve</h2>
<table><tr><th>file</th><th>content</th><th>rows</th><th>PCI DSS v4.0.1</th><th>SOC 2</th><th>ISO/IEC 27001:2022</th></tr>
{{range .Files}}<tr><td><a href="{{.Path}}">{{.Path}}</a></td><td>{{.Title}}</td><td>{{.Rows}}</td><td>{{.PCI}}</td><td>{{.SOC2}}</td><td>{{.ISO2700}}</td></tr>
{{end}}</table>
<p class="note">{{.ManifestNote}}</p>
</body></html>
`))

// Render renders a page.
func Render(p Page) ([]byte, error) {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("summary: render %s: %w", p.Title, err)
	}
	return buf.Bytes(), nil
}
