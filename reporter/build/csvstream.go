package build

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"

	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/reporter/summary"
)

// csvFile is one CSV of the package written as its rows arrive (issue 16: a population of millions of rows
// never sits whole in memory): each row is masked (maskRow), written, counted and fed to the file's judge,
// and only the first keep rows are kept, for the HTML page. The bytes are those csvBytes gives for the same
// rows, so the manifest's hash and size do not depend on how the file was written.
type csvFile struct {
	p     *pkg
	fw    *manifest.FileWriter
	w     *csv.Writer
	keep  int
	cols  []string
	free  []bool // columns maskRow re-masks (freeText)
	page  [][]string
	rows  int64
	judge query.RowJudge
	// newJudge makes the judge once the columns are known (nil: none).
	newJudge func(cols []string) query.RowJudge
}

// createCSV starts the package file path; keep is how many rows to keep for the page.
func (p *pkg) createCSV(path string, keep int, newJudge func([]string) query.RowJudge) (*csvFile, error) {
	fw, err := p.w.Create(path)
	if err != nil {
		return nil, err
	}
	return &csvFile{p: p, fw: fw, w: csv.NewWriter(fw), keep: keep, newJudge: newJudge}, nil
}

// header writes the column names; it is called once, before any row.
func (c *csvFile) header(cols []string) error {
	c.cols = append([]string(nil), cols...)
	c.free = make([]bool, len(cols))
	for i, name := range cols {
		c.free[i] = freeText(name)
	}
	if c.newJudge != nil {
		c.judge = c.newJudge(c.cols)
	}
	return c.w.Write(c.cols)
}

// row masks r in place, then writes it (r is only read during the call).
func (c *csvFile) row(r []string) error {
	c.p.maskRow(c.free, r)
	return c.raw(r)
}

// raw writes r as it is: rows the reporter made itself (integrity findings, whose evidence holds digests).
func (c *csvFile) raw(r []string) error {
	if err := c.w.Write(r); err != nil {
		return err
	}
	c.rows++
	if c.judge != nil {
		c.judge.Row(r)
	}
	if len(c.page) < c.keep {
		c.page = append(c.page, query.CopyRow(r))
	}
	return nil
}

// close flushes the file and records it in the manifest with meta.
func (c *csvFile) close(meta manifest.File) error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		_ = c.fw.Abort()
		return err
	}
	return c.fw.Close(meta)
}

// abort removes the unfinished file (its path can be created again).
func (c *csvFile) abort() { _ = c.fw.Abort() }

// table is what the page shows of the file: the first rows kept and the total.
func (c *csvFile) table() summary.Table {
	return summary.Table{Columns: c.cols, Rows: c.page, Total: int(c.rows)}
}

// stream reads sql into c row by row (header first).
func (c *csvFile) stream(ctx context.Context, db *query.DB, sql string) error {
	return db.StreamRows(ctx, sql, c.header, c.row)
}

// maskRow re-masks anything that looks like a PAN in the free-text cells of r (free[i]: column i is free
// text), in place, counting what it found; see maskTable.
func (p *pkg) maskRow(free []bool, r []string) {
	for i, f := range free {
		if !f || !mayHoldPAN(r[i]) {
			continue
		}
		if masked, found := p.b.masker.Text(r[i]); found.Count > 0 {
			r[i] = masked
			p.masked += found.Count
		}
	}
}

// writeTable writes a whole in-memory table as a CSV of the package (small tables the build makes itself).
func (p *pkg) writeTable(path string, t *query.Table, meta manifest.File) error {
	c, err := p.createCSV(path, 0, nil)
	if err != nil {
		return err
	}
	if err := c.header(t.Columns); err != nil {
		c.abort()
		return fmt.Errorf("build: write %s: %w", path, err)
	}
	for _, r := range t.Rows {
		if err := c.raw(r); err != nil {
			c.abort()
			return fmt.Errorf("build: write %s: %w", path, err)
		}
	}
	return c.close(meta)
}

// population streams one population into its CSV with its judge. An optional population the store refuses
// (query.Population.Optional) becomes a file with the single column "unavailable" and no row, and refused
// says why; any other error fails the build.
func (p *pkg) population(ctx context.Context, pop query.Population, sql string) (c *csvFile, refused error, err error) {
	keep := 0 // rows for the page: only the clock and the reasoning steps are shown there
	if strings.HasSuffix(pop.File, "10.6-clock.csv") || pop.File == query.StepsFile {
		keep = p.b.cfg.PageRows
	}
	c, err = p.createCSV(pop.File, keep, populationJudge(pop))
	if err != nil {
		return nil, nil, err
	}
	err = c.stream(ctx, p.b.db, sql)
	if err == nil {
		return c, nil, nil
	}
	c.abort()
	if !pop.Optional {
		return nil, nil, fmt.Errorf("build: population %s: %w", pop.File, err)
	}
	p.b.log.Warn("optional population unavailable", "file", pop.File, "err", err)
	refused = err
	if c, err = p.createCSV(pop.File, 0, populationJudge(pop)); err != nil {
		return nil, nil, err
	}
	if err := c.header([]string{"unavailable"}); err != nil {
		c.abort()
		return nil, nil, fmt.Errorf("build: write %s: %w", pop.File, err)
	}
	return c, refused, nil
}
