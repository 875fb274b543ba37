// Package build makes evidence packages: it reads a period from the audit store, writes one CSV population
// per PCI DSS requirement (with the SQL that produced it), the integrity report verified from the raw
// events, retention and clock facts, transcripts of sessions with exceptions, the summary page with
// charts and the file-to-control index, then signs the manifest, chains it to the previous package of the
// same kind, and stores the package as a new version in the bucket.
//
//	ClickHouse ──populations, facts──▶ CSV, JSON ─┐
//	           ──raw records──▶ integrity.Checker ─┼──▶ manifest.Writer ──sign──▶ bucket.Store (v<N>)
//	           ──sessions with exceptions──▶ transcripts ─┘        ▲ previous manifest hash (Latest)
package build

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pangate/pangate/internal/mask"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/integrity"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/reporter/summary"
	"github.com/pangate/pangate/reporter/transcript"
	"github.com/pangate/pangate/schemas"
)

// Errors.
var (
	// ErrConfig is returned by Config.Validate.
	ErrConfig = errors.New("build: invalid config")
	// ErrPeriod is returned for a period that is empty or in the wrong order.
	ErrPeriod = errors.New("build: invalid period")
)

// Config of a Builder.
type Config struct {
	// Version is the generator version written in every manifest.
	Version string
	// GatewayKeys are the gateways' checkpoint public keys, by schemas.KeyID.
	GatewayKeys map[string]ed25519.PublicKey
	// Margin is how far past the period checkpoints are read, so that sessions ending just before the end
	// are found in the next checkpoint (default 15m).
	Margin time.Duration
	// Tolerance over a gateway's checkpoint interval before silence is a logging gap (default half the
	// interval).
	Tolerance time.Duration
	// MaxTranscripts caps the transcripts included (default 200); the summary says when capped.
	MaxTranscripts int
	// PageRows caps the rows the HTML pages show per table (default 500); the CSVs have them all.
	PageRows int
	// Chunk is how many events are read per range for the integrity check (default query.DefaultChunk).
	Chunk int
	// Now is the clock (tests).
	Now func() time.Time
}

// Validate fills defaults and checks the config.
func (c *Config) Validate() error {
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Margin == 0 {
		c.Margin = 15 * time.Minute
	}
	if c.MaxTranscripts == 0 {
		c.MaxTranscripts = 200
	}
	if c.PageRows == 0 {
		c.PageRows = 500
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Margin < 0 || c.MaxTranscripts < 0 || c.PageRows < 0 || c.Chunk < 0 {
		return fmt.Errorf("%w: margin, max_transcripts, page_rows and chunk must not be negative", ErrConfig)
	}
	return nil
}

// Progress receives progress; nil is fine.
type Progress interface {
	Stage(name string)
	Events(done, total int64)
}

// Emitter records the reporter's own runs as report.generated events (PCI DSS 10.2.1.3).
type Emitter interface {
	Emit(ctx context.Context, r schemas.ReportGenerated) error
}

// Builder makes packages.
type Builder struct {
	cfg      Config
	db       *query.DB
	store    bucket.Store
	key      ed25519.PrivateKey
	log      *slog.Logger
	masker   *mask.Masker
	Progress Progress
	Emitter  Emitter

	stages     []StageTime
	stageStart time.Time
}

// New makes a Builder.
func New(cfg Config, db *query.DB, store bucket.Store, key ed25519.PrivateKey, log *slog.Logger) (*Builder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if db == nil || store == nil || key == nil {
		return nil, fmt.Errorf("%w: a database, a store and a signing key are required", ErrConfig)
	}
	if log == nil {
		log = slog.Default()
	}
	m, err := mask.New(mask.Config{Shape: mask.ShapeFirst6Last4})
	if err != nil {
		return nil, err
	}
	return &Builder{cfg: cfg, db: db, store: store, key: key, log: log, masker: m}, nil
}

// Result describes a stored package.
type Result struct {
	Kind         string
	Location     string
	ManifestHash string
	Manifest     *manifest.Manifest
	Integrity    *integrity.Report
	Events       int64
	Exceptions   int
	Elapsed      time.Duration
	Stages       []StageTime // time per stage, for tuning
}

type pkg struct {
	b      *Builder
	w      *manifest.Writer
	period query.Period
	masked int
}

// add writes a file. Text from the store was masked by the gateway; tables pass through maskTable and
// transcripts through maskTranscript first (defence in depth), so identifiers and hashes are never touched.
func (p *pkg) add(path string, data []byte, meta manifest.File) error {
	return p.w.Add(path, data, meta)
}

// maskTable re-masks anything that looks like a PAN in the free-text cells of t (SQL, errors, details,
// claims), counting what it found in the manifest as pan_masked_by_reporter. Identifier, time, hash and
// number columns are left alone: a UUID's last group or a digest can pass IIN + length + Luhn, and
// rewriting an event id would break the evidence.
func (p *pkg) maskTable(t *query.Table) {
	free := make([]bool, len(t.Columns))
	for c, name := range t.Columns {
		free[c] = freeText(name)
	}
	for _, r := range t.Rows {
		p.maskRow(free, r)
	}
}

// mayHoldPAN is a cheap pre-check: a PAN has at least 12 digits.
func mayHoldPAN(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if n++; n >= 12 {
				return true
			}
		}
	}
	return false
}

// freeText reports whether a column holds text that could carry card data (not an id, time, hash or count).
func freeText(col string) bool {
	switch col {
	case "sql", "params", "held_sql", "detail", "error", "message", "reason", "hold_reason", "decision_reason", "workload",
		"application", "subject", "requester_subject", "command_tag", "revoke_error", "evidence", "listen", "location",
		"step", "branch", "thought", "purpose", "ticket", "run", "cardholder_tables", "approval_decisions":
		return true
	}
	return false
}

// maskTranscript re-masks the human-readable lines of a transcript (SQL, errors, samples).
func (p *pkg) maskTranscript(tr *transcript.Transcript) {
	for i := range tr.Entries {
		e := &tr.Entries[i]
		if m, f := p.b.masker.Text(e.Summary); f.Count > 0 {
			e.Summary, p.masked = m, p.masked+f.Count
		}
		for j, l := range e.Lines {
			if m, f := p.b.masker.Text(l); f.Count > 0 {
				e.Lines[j], p.masked = m, p.masked+f.Count
			}
		}
	}
}

// StageTime is how long one stage of a build took.
type StageTime struct {
	Stage   string
	Elapsed time.Duration
}

func (b *Builder) stage(name string) {
	now := time.Now()
	if n := len(b.stages); n > 0 {
		b.stages[n-1].Elapsed = now.Sub(b.stageStart)
	}
	b.stages = append(b.stages, StageTime{Stage: name})
	b.stageStart = now
	b.log.Info("report stage", "stage", name)
	if b.Progress != nil {
		b.Progress.Stage(name)
	}
}

// Build makes, signs and stores the package of kind (manifest.KindPackage or manifest.KindDailyReview)
// for [from, to).
func (b *Builder) Build(ctx context.Context, kind string, from, to time.Time) (*Result, error) {
	start := time.Now()
	b.stages = nil
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil, fmt.Errorf("%w: from %s is not before to %s", ErrPeriod, from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	if kind != manifest.KindPackage && kind != manifest.KindDailyReview {
		return nil, fmt.Errorf("%w: kind %q", ErrConfig, kind)
	}
	per := query.Period{From: from, To: to}

	b.stage("previous package")
	prevJSON, prevLoc, err := b.store.Latest(ctx, kind)
	if err != nil {
		return nil, err
	}
	prevHash := ""
	if prevJSON != nil {
		prevHash = manifest.Hash(prevJSON)
	}
	storage, err := b.store.Prepare(ctx, kind, bucket.PeriodName(from, to))
	if err != nil {
		return nil, err
	}
	dir := storage.Location
	ok := false
	if storage.Kind == "local" {
		defer func() {
			if !ok {
				// Leave no half-written version behind: Latest would skip it, but people would not.
				_ = os.RemoveAll(dir)
			}
		}()
	}
	tmp := ""
	if storage.Kind != "local" {
		tmp, err = os.MkdirTemp("", "pangate-package-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp + "/pkg"
	}
	w, err := manifest.NewWriter(dir)
	if err != nil {
		return nil, err
	}
	p := &pkg{b: b, w: w, period: per}

	// Integrity first: it streams every record of the period once, and its counts are the package's.
	b.stage("integrity")
	rep, err := b.integrity(ctx, per)
	if err != nil {
		return nil, err
	}
	counts := rep.InPeriod
	var total int64
	for _, n := range counts {
		total += n
	}
	gateways := rep.Gateways

	var files []summary.FileRow
	var judged []judgement
	addFile := func(path, title string, data []byte, rows int64, f manifest.File) error {
		f.Description, f.Rows = title, rows
		if err := p.add(path, data, f); err != nil {
			return err
		}
		files = append(files, summary.FileRow{Path: path, Title: title, Rows: rows, PCI: strings.Join(f.PCI, ", "), SOC2: strings.Join(f.SOC2, ", "), ISO2700: strings.Join(f.ISO27001, ", ")})
		return nil
	}
	// closeFile records a streamed CSV like addFile (its rows counted as written).
	closeFile := func(c *csvFile, path, title string, f manifest.File) error {
		f.Description, f.Rows = title, c.rows
		if err := c.close(f); err != nil {
			return fmt.Errorf("build: write %s: %w", path, err)
		}
		files = append(files, summary.FileRow{Path: path, Title: title, Rows: c.rows, PCI: strings.Join(f.PCI, ", "), SOC2: strings.Join(f.SOC2, ", "), ISO2700: strings.Join(f.ISO27001, ", ")})
		return nil
	}
	// judge records what a file shows for the controls it is mapped to (the verdict table).
	judge := func(path, tested, result, why string, f manifest.File) {
		judged = append(judged, judgement{file: path, tested: tested, result: result, why: why, pci: f.PCI, soc2: f.SOC2, iso: f.ISO27001})
	}

	// Populations.
	pops := query.Populations
	if kind == manifest.KindDailyReview {
		pops = nil
	}
	var clock, steps summary.Table
	for _, pop := range pops {
		b.stage(pop.File)
		sql := per.Render(pop.SQL)
		meta := manifest.File{PCI: pop.PCI, SOC2: pop.SOC2, ISO27001: pop.ISO27001, SQL: sql}
		c, refused, err := p.population(ctx, pop, sql)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(pop.File, "10.6-clock.csv") {
			clock = c.table()
		}
		if pop.File == query.StepsFile {
			steps = c.table()
		}
		if err := closeFile(c, pop.File, pop.Title+": "+pop.Description, meta); err != nil {
			return nil, err
		}
		res, why := c.judge.Result()
		if refused != nil {
			res, why = ResultNotEvidenced, "the reporter could not read it: "+refused.Error()
		}
		judge(pop.File, pop.Title, res, why, meta)
	}

	// Downloads of stored packages (10.2.1.3): from the package bucket's server access logs.
	if kind != manifest.KindDailyReview {
		b.stage(DownloadsFile)
		t, src, res, why := b.downloads(ctx, per)
		p.maskTable(t) // a user agent is client-chosen text
		meta := manifest.File{PCI: []string{"10.2.1.3"}, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.15"}}
		title := "Downloads of evidence packages: every GET of a package object in the package bucket's server access log (when, who, from where, which package and file, status), read from " + src
		if err := addFile(DownloadsFile, title, csvBytes(t), int64(len(t.Rows)), meta); err != nil {
			return nil, err
		}
		judge(DownloadsFile, "Package downloads in the bucket's server access log", res, why, meta)
	}

	// Integrity report files.
	integritySQL := per.RenderMargin(query.IntegritySQL, b.cfg.Margin)
	repJSON, _ := json.MarshalIndent(rep, "", "  ")
	integMeta := manifest.File{PCI: []string{"10.3.4", "10.3.2", "10.7.2", "10.7.3"}, SOC2: []string{"CC7.2", "CC7.3"}, ISO27001: []string{"A.8.15", "A.8.16"}, SQL: integritySQL}
	if err := addFile("integrity/integrity.json", "Integrity report: every session's hash chain and every gateway's signed checkpoint chain verified from the raw events", append(repJSON, '\n'), int64(len(rep.Findings)), integMeta); err != nil {
		return nil, err
	}
	switch {
	case rep.Failures > 0:
		judge("integrity/integrity.json", "Hash chains and signed checkpoints recomputed from the raw events", ResultExceptions,
			fmt.Sprintf("%s: events edited, missing, reordered or deleted; see integrity/findings.csv", plural(rep.Failures, "failure", "failures")), integMeta)
	case rep.Events == 0:
		judge("integrity/integrity.json", "Hash chains and signed checkpoints recomputed from the raw events", ResultNotEvidenced, "no events in the period to verify", integMeta)
	default:
		judge("integrity/integrity.json", "Hash chains and signed checkpoints recomputed from the raw events", ResultMet,
			fmt.Sprintf("%d events verified, %s", rep.Events, plural(rep.Warnings, "warning", "warnings")), integMeta)
	}
	findings := findingsTable(rep.Findings, "")
	if err := addFile("integrity/findings.csv", "Integrity findings with their evidence (edited, missing, reordered events; missing sessions and checkpoints; logging gaps)", csvBytes(findings), int64(len(findings.Rows)), integMeta); err != nil {
		return nil, err
	}
	gaps := findingsTable(rep.Findings, integrity.KindLoggingGap)
	gaps.Rows = append(gaps.Rows, findingsTable(rep.Findings, integrity.KindRunCrashed).Rows...)
	// Sessions a crash ended, recorded by a reaper: reads after their last seq may be unrecorded (pipelined).
	gaps.Rows = append(gaps.Rows, findingsTable(rep.Findings, integrity.KindSessionCrashed).Rows...)
	gapMeta := manifest.File{PCI: []string{"10.7.2", "10.7.3", "10.2.1.6"}, SOC2: []string{"CC7.2", "CC7.3"}, ISO27001: []string{"A.8.16"}, SQL: integritySQL}
	if err := addFile("integrity/10.7-logging-gaps.csv", "Logging gaps: gateways silent for longer than their checkpoint interval, and gateway runs that crashed (start, end and cause; integrity.json lists them as incidents)", csvBytes(gaps), int64(len(gaps.Rows)), gapMeta); err != nil {
		return nil, err
	}
	switch {
	case len(gaps.Rows) > 0:
		judge("integrity/10.7-logging-gaps.csv", "Gateways silent past their checkpoint interval, crashed runs", ResultExceptions, plural(len(gaps.Rows), "gap or crash", "gaps or crashes")+" to follow up", gapMeta)
	case len(rep.Runs) == 0:
		judge("integrity/10.7-logging-gaps.csv", "Gateways silent past their checkpoint interval, crashed runs", ResultNotEvidenced, "no gateway run with checkpoints in the period", gapMeta)
	default:
		judge("integrity/10.7-logging-gaps.csv", "Gateways silent past their checkpoint interval, crashed runs", ResultMet, plural(len(rep.Runs), "gateway run", "gateway runs")+" checkpointed without gaps", gapMeta)
	}

	// Exceptions.
	b.stage("exceptions")
	exSQL := per.Render(query.ExceptionsSQL)
	exc, err := p.createCSV("exceptions.csv", b.cfg.PageRows, nil)
	if err != nil {
		return nil, err
	}
	// The sessions to include transcripts for, in order of first exception (then those the integrity
	// check named): the ids only, never the rows.
	sessCol, seenSession := -1, map[string]bool{}
	var candidates []string
	candidate := func(s string) {
		if s != "" && !seenSession[s] {
			seenSession[s] = true
			candidates = append(candidates, s)
		}
	}
	err = b.db.StreamRows(ctx, exSQL, func(cols []string) error {
		sessCol = 2
		if i := slices.Index(cols, "session"); i >= 0 {
			sessCol = i
		}
		return exc.header(cols)
	}, func(r []string) error {
		candidate(r[sessCol])
		return exc.row(r) // masked; the integrity rows below are not: their evidence holds digests
	})
	if err != nil {
		exc.abort()
		return nil, fmt.Errorf("build: exceptions: %w", err)
	}
	for _, f := range rep.Findings {
		if f.Severity == integrity.Failure {
			r := []string{firstNonEmpty(f.From, f.To), "integrity:" + f.Kind, f.Session, f.EventID, f.Gateway, "", f.Detail}
			candidate(r[sessCol])
			if err := exc.raw(r); err != nil {
				exc.abort()
				return nil, fmt.Errorf("build: exceptions: %w", err)
			}
		}
	}
	for _, s := range rep.SessionsChecked {
		candidate(s)
	}
	exceptions := int(exc.rows)
	exMeta := manifest.File{PCI: []string{"10.4.1", "10.4.1.1", "10.4.2", "10.2.1.4", "10.7.2"}, SOC2: []string{"CC7.2", "CC7.3"}, ISO27001: []string{"A.8.15", "A.8.16"}, SQL: exSQL + "\n-- plus integrity failures from integrity/findings.csv"}
	if err := closeFile(exc, "exceptions.csv", "Exceptions needing review: failed logins, blocked statements, denied or expired approvals, unmasked cardholder results, human sessions, integrity failures", exMeta); err != nil {
		return nil, err
	}
	if exceptions > 0 {
		judge("exceptions.csv", "Exceptions for the log review", ResultExceptions, plural(exceptions, "exception", "exceptions")+" to review and follow up", exMeta)
	} else {
		judge("exceptions.csv", "Exceptions for the log review", ResultMet, "no exception in the period", exMeta)
	}

	// Retention facts.
	b.stage("retention")
	ret, err := b.db.Retention(ctx)
	if err != nil {
		return nil, err
	}
	retJSON, _ := json.MarshalIndent(ret, "", "  ")
	retMeta := manifest.File{PCI: []string{"10.5.1", "10.3.3"}, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.15"}, SQL: query.RetentionSQL + ";\n\n" + query.PartitionsSQL}
	if err := addFile("retention.json", "Retention facts: earliest and latest event available, monthly partitions", append(retJSON, '\n'), int64(len(ret.Partitions)), retMeta); err != nil {
		return nil, err
	}
	if ret.Earliest == "" || len(ret.Partitions) == 0 {
		judge("retention.json", "Events available in the store, by month", ResultNotEvidenced, "the store's partitions could not be listed: "+ret.Note, retMeta)
	} else {
		judge("retention.json", "Events available in the store, by month", ResultMet,
			fmt.Sprintf("events available from %s to %s in %s", ret.Earliest, ret.Latest, plural(len(ret.Partitions), "monthly partition", "monthly partitions")), retMeta)
	}

	// Transcripts of sessions with exceptions.
	b.stage("transcripts")
	var tlinks []string
	// Candidates include ids with nothing to show (sessions deleted whole, gateway runs and approval ids
	// named by integrity findings): they are read in batches and skipped, so the cap counts transcripts.
	var noTranscript []string
	withExceptions := 0
	for start := 0; start < len(candidates) && len(tlinks) < b.cfg.MaxTranscripts; {
		end := start + b.cfg.MaxTranscripts - len(tlinks)
		if end > len(candidates) {
			end = len(candidates)
		}
		batch := candidates[start:end]
		start = end
		bySession, err := b.db.SessionsEvents(ctx, batch)
		if err != nil {
			return nil, err
		}
		var apprIDs []string
		for _, s := range batch {
			apprIDs = append(apprIDs, transcript.ApprovalIDs(bySession[s])...)
		}
		byApproval, err := b.db.SessionsEvents(ctx, apprIDs)
		if err != nil {
			return nil, err
		}
		for _, s := range batch {
			evs := bySession[s]
			if len(evs) == 0 || integrity.Standalone(evs[0]) || evs[0].Type == schemas.TypeGatewayStarted || evs[0].Type == schemas.TypeGatewayCheckpoint {
				noTranscript = append(noTranscript, s) // deleted sessions have nothing to show; runs and approval ids are not sessions
				continue
			}
			var appr []schemas.Event
			for _, id := range transcript.ApprovalIDs(evs) {
				appr = append(appr, byApproval[id]...)
			}
			tr, err := transcript.Build(evs, appr)
			if err != nil {
				return nil, err
			}
			p.maskTranscript(tr)
			js, err := tr.JSON()
			if err != nil {
				return nil, err
			}
			tmeta := manifest.File{PCI: []string{"10.4.1", "10.2.2", "10.2.1.1"}, SOC2: []string{"CC7.3"}, ISO27001: []string{"A.8.15"}, SQL: query.SessionSQL + " -- session = " + s}
			name := "transcripts/" + safeName(s)
			if err := addFile(name+".txt", "Transcript of session "+s, []byte(tr.Text()), int64(len(tr.Entries)), tmeta); err != nil {
				return nil, err
			}
			if err := addFile(name+".json", "Transcript of session "+s+" (JSON)", js, int64(len(tr.Entries)), tmeta); err != nil {
				return nil, err
			}
			tlinks = append(tlinks, name+".txt")
		}
	}
	withExceptions = len(candidates) - len(noTranscript)
	notIncluded := withExceptions - len(tlinks) // sessions past the cap (candidates never read count as sessions)

	// Charts and the summary page.
	b.stage("summary")
	var charts []summary.Chart
	if kind == manifest.KindPackage {
		cd, err := b.db.Charts(ctx, per)
		if err != nil {
			return nil, err
		}
		charts = makeCharts(cd)
	}
	gen := b.cfg.Now().UTC()
	m := &manifest.Manifest{Kind: kind, Generator: manifest.Generator{Name: "pangate-reporter", Version: b.cfg.Version},
		GeneratedAt: gen.Format(time.RFC3339), Period: manifest.Period{From: from.Format(time.RFC3339Nano), To: to.Format(time.RFC3339Nano)},
		Scope:   manifest.Scope{Database: b.dbName(), Gateways: gateways, Description: "pangate audit store: every event indexed from the audit and approvals topics"},
		Storage: storage, Previous: prevHash, PreviousLocation: prevLoc, Empty: total == 0, Counts: map[string]int64{}}
	for k, v := range counts {
		m.Counts["events."+k] = v
	}
	m.Counts["events"] = total
	m.Counts["exceptions"] = int64(exceptions)
	m.Counts["integrity_failures"] = int64(rep.Failures)
	m.Counts["integrity_warnings"] = int64(rep.Warnings)
	m.Counts["sessions_verified"] = int64(rep.Sessions - rep.RunChains)
	m.Counts["gateway_runs_verified"] = int64(rep.RunChains)
	m.Counts["transcripts"] = int64(len(tlinks))

	title := "pangate evidence package"
	if kind == manifest.KindDailyReview {
		title = "pangate daily log review " + from.Format("2006-01-02")
	}
	page := summary.Page{Title: title, Kind: kind, From: m.Period.From, To: m.Period.To, GeneratedAt: m.GeneratedAt,
		Generator: m.Generator.Name + " " + m.Generator.Version, Database: m.Scope.Database, Gateways: gateways, Empty: m.Empty,
		Exceptions: exc.table(), Integrity: rep, Findings: capTable(findings, b.cfg.PageRows), Charts: charts,
		Transcripts: tlinks, SignOff: kind == manifest.KindDailyReview}
	page.Clock, page.Steps = clock, steps
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		page.Counts = append(page.Counts, summary.Fact{Label: k, Value: strconv.FormatInt(counts[k], 10)})
	}
	page.Facts = []summary.Fact{
		{Label: "Events in period", Value: strconv.FormatInt(total, 10)},
		{Label: "Earliest / latest event in store (10.5.1)", Value: ret.Earliest + " / " + ret.Latest},
		{Label: "Storage", Value: storageFact(storage)},
		{Label: "Previous package (chain)", Value: orNone(prevHash, prevLoc)},
		{Label: "Signing key", Value: schemas.KeyID(b.key.Public().(ed25519.PublicKey))},
	}
	tfact := fmt.Sprintf("%d of %d sessions with exceptions or integrity findings have a transcript", len(tlinks), withExceptions)
	if notIncluded > 0 {
		tfact += fmt.Sprintf(" (capped at %d; the other %d are in exceptions.csv)", b.cfg.MaxTranscripts, notIncluded)
	}
	if len(noTranscript) > 0 {
		tfact += fmt.Sprintf("; %d other id(s) named by exceptions or findings have no session events to show (deleted sessions, gateway runs, approvals): see integrity/findings.csv", len(noTranscript))
	}
	page.Facts = append(page.Facts, summary.Fact{Label: "Transcripts", Value: tfact})
	// The index covers itself and the page; the manifest covers everything with hashes.
	indexMeta := manifest.File{PCI: []string{"10.4.1", "10.5.1", "10.7.2"}, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.15"}}
	pageName := "summary.html"
	pageTitle := "Summary for the assessor: scope, period, counts, exceptions, integrity, charts, index"
	if kind == manifest.KindDailyReview {
		pageName, pageTitle = "review.html", "Daily review report: the day's exceptions; the reviewer signs off with reporter review (a signed review beside the package)"
		indexMeta.PCI = []string{"10.4.1", "10.4.1.1", "10.4.2"}
	}
	files = append(files, summary.FileRow{Path: pageName, Title: pageTitle, PCI: strings.Join(indexMeta.PCI, ", "), SOC2: "CC7.2", ISO2700: "A.8.15, A.8.16"},
		summary.FileRow{Path: "index.csv", Title: "Index: every file mapped to PCI DSS, SOC 2 and ISO/IEC 27001:2022 controls", PCI: "10.4.1", SOC2: "CC7.2", ISO2700: "A.8.15"})
	// The verdict table, from the same judgements as the files above (docs/evidence.md "Verdicts").
	vs := verdicts(judged)
	vt := verdictTable(vs)
	vPath := "verdicts.csv"
	if err := p.add(vPath, csvBytes(vt), manifest.File{Description: "Verdict per requirement: what was tested, in which files, the result (met / exceptions / not evidenced) and why", Rows: int64(len(vt.Rows))}); err != nil {
		return nil, err
	}
	files = append(files, summary.FileRow{Path: vPath, Title: "Verdict per requirement (PCI DSS, SOC 2, ISO/IEC 27001): what was tested, files, result and why", Rows: int64(len(vt.Rows))})
	page.Verdicts = vs
	page.Files = files
	page.ManifestNote = fmt.Sprintf("manifest.json lists %d files with SHA-256; manifest.sig is an Ed25519 signature by key %s.", len(files), schemas.KeyID(b.key.Public().(ed25519.PublicKey)))
	html, err := summary.Render(page)
	if err != nil {
		return nil, err
	}
	if err := p.add(pageName, html, manifest.File{Description: pageTitle, PCI: indexMeta.PCI, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.15", "A.8.16"}}); err != nil {
		return nil, err
	}
	idx := &query.Table{Columns: []string{"file", "content", "rows", "pci_dss", "soc2", "iso27001"}}
	for _, f := range files {
		idx.Rows = append(idx.Rows, []string{f.Path, f.Title, strconv.FormatInt(f.Rows, 10), f.PCI, f.SOC2, f.ISO2700})
	}
	if err := p.add("index.csv", csvBytes(idx), manifest.File{Description: "Index of files and controls", PCI: []string{"10.4.1"}, SOC2: []string{"CC7.2"}, ISO27001: []string{"A.8.15"}, Rows: int64(len(idx.Rows))}); err != nil {
		return nil, err
	}
	m.Counts["pan_masked_by_reporter"] = int64(p.masked)

	b.stage("sign")
	hash, err := w.Finish(m, b.key)
	if err != nil {
		return nil, err
	}
	b.stage("store")
	if err := b.store.Put(ctx, storage, dir); err != nil {
		return nil, err
	}
	ok = true
	b.stage("done")
	res := &Result{Kind: kind, Location: storage.Location, ManifestHash: hash, Manifest: m, Integrity: rep, Events: total, Exceptions: exceptions, Elapsed: time.Since(start), Stages: b.stages[:len(b.stages)-1]}
	if b.Emitter != nil {
		rg := schemas.ReportGenerated{Kind: kind, From: schemas.FormatTime(from), To: schemas.FormatTime(to), Location: storage.Location, ManifestHash: hash, Events: total,
			KeyID: schemas.KeyID(b.key.Public().(ed25519.PublicKey))}
		if err := b.Emitter.Emit(ctx, rg); err != nil {
			// The package is stored and signed; the missing access record is reported, not hidden.
			return res, fmt.Errorf("build: package stored at %s but report.generated was not recorded: %w", storage.Location, err)
		}
	}
	b.log.Info("package stored", "kind", kind, "location", storage.Location, "manifest", hash, "events", total,
		"integrity_failures", rep.Failures, "exceptions", exceptions, "elapsed", res.Elapsed.Round(time.Millisecond))
	return res, nil
}

var errNotSession = errors.New("build: id names an unchained record, not a session")

// Transcript reads a session and the approvals-topic records of its holds from the store.
func Transcript(ctx context.Context, db *query.DB, session string) (*transcript.Transcript, error) {
	evs, err := db.SessionEvents(ctx, session)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("%w: session %s in database %s", transcript.ErrNoSession, session, db.Database())
	}
	if integrity.Standalone(evs[0]) {
		return nil, fmt.Errorf("%w: %s", errNotSession, session)
	}
	var appr []schemas.Event
	for _, id := range transcript.ApprovalIDs(evs) {
		a, err := db.SessionEvents(ctx, id)
		if err != nil {
			return nil, err
		}
		appr = append(appr, a...)
	}
	return transcript.Build(evs, appr)
}

func (b *Builder) dbName() string { return b.db.Database() }

// integrity runs the checker over every session of the period, streamed from the raw records.
func (b *Builder) integrity(ctx context.Context, per query.Period) (*integrity.Report, error) {
	cfg := integrity.Config{From: per.From, To: per.To, Keys: b.cfg.GatewayKeys, Tolerance: b.cfg.Tolerance, Now: b.cfg.Now}
	return Integrity(ctx, b.db, cfg, b.cfg.Margin, b.cfg.Chunk, func(done, all int64) {
		if b.Progress != nil {
			b.Progress.Events(done, all)
		}
	})
}

// MemoryLimit is the reporter's default Go soft memory limit (see ApplyMemoryLimit): measured at 10 M events
// it held the integrity stage's peak RSS at 609 MiB (901–917 MiB without) with garbage collection still
// ≈ 6 % of the CPU (indexer/BENCHMARKS.md, "Reporter over 10 M seeded events").
const MemoryLimit = 600 << 20

// ApplyMemoryLimit sets MemoryLimit as the Go runtime's soft memory limit unless GOMEMLIMIT is set (the
// operator's value wins). The reporter's main calls it once at start; it returns the limit in force.
func ApplyMemoryLimit() int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(MemoryLimit)
	return MemoryLimit
}

// Integrity is the package's integrity stage (what integrity/integrity.json holds), also run alone by
// integration/reporter's BenchmarkIntegrity30Days: the checkpoints of the period (with margin) are read in
// batches while the session list is read, and the raw records of those sessions are streamed and checked
// once both are in (the first ranges are read meanwhile). cfg.Listed is set from the session list.
// progress, if not nil, gets the events done and the total.
func Integrity(ctx context.Context, db *query.DB, cfg integrity.Config, margin time.Duration, chunk int, progress func(done, all int64)) (*integrity.Report, error) {
	var sessions []query.SessionCount
	// Listed: the checker keeps nothing of a closed session (StreamRecords delivers them in ascending
	// order). It is called only by Add and Finish, after sessions is set.
	cfg.Listed = func(id string) bool { return query.Listed(sessions)(id) }
	chk, err := integrity.New(cfg, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Checkpoints in batches (the checker keeps a compact record of each, never the decoded list), beside
	// the session list: two independent ClickHouse queries.
	cpDone := make(chan error, 1)
	go func() {
		cpDone <- db.StreamCheckpoints(ctx, query.Period{From: cfg.From, To: cfg.To}, margin, 0, func(cps []schemas.Event) error {
			chk.AddCheckpoints(cps)
			return nil
		})
	}()
	sessions, err = db.Sessions(ctx, query.Period{From: cfg.From, To: cfg.To}, margin)
	if err != nil {
		cancel()
		<-cpDone
		return nil, err
	}
	var all int64
	for _, s := range sessions {
		all += int64(s.Events)
	}
	waited := false
	err = db.StreamRecords(ctx, sessions, chunk, func(r query.Record) error {
		if !waited {
			// Every checkpoint must be in before the first event is checked (its session's heads).
			waited = true
			if err := <-cpDone; err != nil {
				return err
			}
		}
		return chk.AddHashed(r.Event, r.Recomputed)
	}, func(done int64) {
		if progress != nil {
			progress(done, all)
		}
	})
	if !waited {
		if cerr := <-cpDone; err == nil {
			err = cerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("build: integrity: %w", err)
	}
	return chk.Finish(), nil
}

// DownloadsFile is the population of package downloads (docs/evidence.md, "Package downloads").
const DownloadsFile = "populations/10.2.1.3-package-downloads.csv"

// downloads lists the GETs of package objects in the period from the store's access logs, with the
// verdict: met with rows, not evidenced when the store has no access log configured or it cannot be read
// (the why says which setting to fix), and not evidenced with no download either (nobody fetched a
// package, or the log missed it).
func (b *Builder) downloads(ctx context.Context, per query.Period) (t *query.Table, src, result, why string) {
	t = &query.Table{Columns: []string{"ts", "requester", "remote_ip", "bucket", "package", "object", "operation", "status", "error_code", "bytes", "request_id", "user_agent"}}
	d, ok := b.store.(bucket.Downloader)
	if !ok || !d.HasAccessLogs() {
		return t, "no access log (bucket.access_logs unset)", ResultNotEvidenced,
			"package downloads are not logged for the reporter: set bucket.access_logs to the package bucket's server access logs (docs/evidence.md, Package downloads)"
	}
	ds, src, err := d.Downloads(ctx, per.From, per.To)
	if err != nil {
		b.log.Warn("package downloads unavailable", "err", err)
		return t, "the configured access log (unreadable)", ResultNotEvidenced, "the reporter could not read the access log: " + err.Error()
	}
	for _, x := range ds {
		t.Rows = append(t.Rows, []string{schemas.FormatTime(x.Time), x.Requester, x.RemoteIP, x.Bucket, x.Package, x.Key, x.Operation,
			strconv.Itoa(x.Status), x.ErrorCode, strconv.FormatInt(x.Bytes, 10), x.RequestID, x.UserAgent})
	}
	if len(ds) == 0 {
		return t, src, ResultNotEvidenced, "no package was downloaded in the period according to " + src
	}
	return t, src, ResultMet, fmt.Sprintf("%d download(s) of package objects logged in the period", len(ds))
}

func csvBytes(t *query.Table) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(t.Columns)
	for _, r := range t.Rows {
		_ = w.Write(r)
	}
	w.Flush()
	return buf.Bytes()
}

func findingsTable(fs []integrity.Finding, kind string) *query.Table {
	t := &query.Table{Columns: []string{"severity", "kind", "gateway", "run", "session", "seq", "event_id", "from", "to", "evidence"}}
	for _, f := range fs {
		if kind != "" && f.Kind != kind {
			continue
		}
		t.Rows = append(t.Rows, []string{f.Severity, f.Kind, f.Gateway, f.Run, f.Session, f.Seq, f.EventID, f.From, f.To, f.Detail})
	}
	return t
}

func capTable(t *query.Table, n int) summary.Table {
	out := summary.Table{Columns: t.Columns, Rows: t.Rows, Total: len(t.Rows)}
	if len(out.Rows) > n {
		out.Rows = out.Rows[:n]
	}
	return out
}

func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func storageFact(s manifest.Storage) string {
	if s.ObjectLock {
		return fmt.Sprintf("%s %s, Object Lock %s for %d days", s.Kind, s.Location, s.LockMode, s.RetainDays)
	}
	return fmt.Sprintf("%s %s (%s)", s.Kind, s.Location, s.Note)
}

func orNone(hash, loc string) string {
	if hash == "" {
		return "none: first package of its kind in this store"
	}
	return hash + " at " + loc
}
