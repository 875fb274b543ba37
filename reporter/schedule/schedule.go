// Package schedule runs the reporter as a daemon: a daily review report of the previous UTC day and a
// package of the previous UTC month, on cron schedules (robfig/cron, five fields, UTC). A run that fails is
// logged and retried at its next firing; runs never overlap.
package schedule

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/pangate/pangate/reporter/manifest"
)

// Runner builds one package; build.Builder.Build satisfies it through a closure.
type Runner func(ctx context.Context, kind string, from, to time.Time) error

// Config holds the cron expressions; an empty one disables that job.
type Config struct {
	Daily   string
	Monthly string
	// Now is the clock used to pick the period when a job fires (tests); default time.Now.
	Now func() time.Time
}

// Scheduler runs the jobs.
type Scheduler struct {
	c   *cron.Cron
	run Runner
	log *slog.Logger
	mu  sync.Mutex // one run at a time
	ctx context.Context
	now func() time.Time
}

// New schedules the jobs.
func New(cfg Config, run Runner, log *slog.Logger) (*Scheduler, error) {
	s := &Scheduler{c: cron.New(cron.WithLocation(time.UTC)), run: run, log: log, now: time.Now}
	if cfg.Now != nil {
		s.now = cfg.Now
	}
	if log == nil {
		s.log = slog.Default()
	}
	if cfg.Daily != "" {
		if _, err := s.c.AddFunc(cfg.Daily, func() { s.fire(manifest.KindDailyReview) }); err != nil {
			return nil, fmt.Errorf("schedule: daily %q: %w", cfg.Daily, err)
		}
	}
	if cfg.Monthly != "" {
		if _, err := s.c.AddFunc(cfg.Monthly, func() { s.fire(manifest.KindPackage) }); err != nil {
			return nil, fmt.Errorf("schedule: monthly %q: %w", cfg.Monthly, err)
		}
	}
	return s, nil
}

// PreviousDay is the UTC day before now; PreviousMonth the UTC month before now.
func PreviousDay(now time.Time) (time.Time, time.Time) {
	to := now.UTC().Truncate(24 * time.Hour)
	return to.AddDate(0, 0, -1), to
}

// PreviousMonth returns [first of last month, first of this month).
func PreviousMonth(now time.Time) (time.Time, time.Time) {
	n := now.UTC()
	to := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, time.UTC)
	return to.AddDate(0, -1, 0), to
}

// Period returns the period a job of kind covers when it fires at now.
func Period(kind string, now time.Time) (time.Time, time.Time) {
	if kind == manifest.KindDailyReview {
		return PreviousDay(now)
	}
	return PreviousMonth(now)
}

func (s *Scheduler) fire(kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from, to := Period(kind, s.now())
	s.log.Info("scheduled run", "kind", kind, "from", from, "to", to)
	if err := s.run(s.ctx, kind, from, to); err != nil {
		s.log.Error("scheduled run failed; retried at the next firing", "kind", kind, "from", from, "to", to, "err", err)
	}
}

// Run runs the scheduler until ctx ends, then waits for a running job.
func (s *Scheduler) Run(ctx context.Context) {
	s.ctx = ctx
	s.c.Start()
	<-ctx.Done()
	<-s.c.Stop().Done()
}

// Entries returns the next firing of each job (for the startup log).
func (s *Scheduler) Entries() []time.Time {
	var out []time.Time
	for _, e := range s.c.Entries() {
		out = append(out, e.Next)
	}
	return out
}
