package cli

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/pangate/pangate/internal/cli"

	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/schedule"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// TestGeneratePeriodRelative: -period covers the previous UTC day / month, also across month and year ends,
// leap days and for a now given in another zone, and is the period the daemon's jobs cover.
func TestGeneratePeriodRelative(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		period   string
		now      time.Time
		from, to time.Time
	}{
		{"previous-day", time.Date(2026, 11, 27, 0, 15, 0, 0, time.UTC), day(2026, 11, 26), day(2026, 11, 27)},
		{"previous-day", time.Date(2026, 3, 1, 0, 15, 0, 0, time.UTC), day(2026, 2, 28), day(2026, 3, 1)},
		{"previous-day", time.Date(2028, 3, 1, 23, 59, 59, 0, time.UTC), day(2028, 2, 29), day(2028, 3, 1)},
		{"previous-day", time.Date(2027, 1, 1, 0, 15, 0, 0, time.UTC), day(2026, 12, 31), day(2027, 1, 1)},
		// 00:30 CET on the 2nd is 23:30 UTC on the 1st: the previous UTC day is the 31st.
		{"previous-day", time.Date(2027, 1, 2, 0, 30, 0, 0, cet), day(2026, 12, 31), day(2027, 1, 1)},
		{"previous-month", time.Date(2026, 12, 1, 1, 30, 0, 0, time.UTC), day(2026, 11, 1), day(2026, 12, 1)},
		{"previous-month", time.Date(2027, 1, 1, 1, 30, 0, 0, time.UTC), day(2026, 12, 1), day(2027, 1, 1)},
		{"previous-month", time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC), day(2026, 2, 1), day(2026, 3, 1)},
		// 00:30 CET on 1 December is still November in UTC: the previous month is October.
		{"previous-month", time.Date(2026, 12, 1, 0, 30, 0, 0, cet), day(2026, 10, 1), day(2026, 11, 1)},
	} {
		from, to, err := generatePeriod("", "", c.period, c.now)
		if err != nil || !from.Equal(c.from) || !to.Equal(c.to) || from.Location() != time.UTC || to.Location() != time.UTC {
			t.Errorf("%s at %v: [%v, %v) %v, want [%v, %v)", c.period, c.now, from, to, err, c.from, c.to)
		}
		kind := manifest.KindPackage
		if c.period == periodPreviousDay {
			kind = manifest.KindDailyReview
		}
		if sf, st := schedule.Period(kind, c.now); !sf.Equal(from) || !st.Equal(to) {
			t.Errorf("%s at %v: [%v, %v), but `reporter run` would cover [%v, %v)", c.period, c.now, from, to, sf, st)
		}
	}
}

func TestGeneratePeriodAbsolute(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		from, to string
		wf, wt   time.Time
	}{
		{"2026-10", "", day(2026, 10, 1), day(2026, 11, 1)},
		{"2026-10-05", "", day(2026, 10, 5), day(2026, 10, 6)},
		{"2026-10-01", "2026-10-15", day(2026, 10, 1), day(2026, 10, 15)},
	} {
		f, to, err := generatePeriod(c.from, c.to, "", now)
		if err != nil || !f.Equal(c.wf) || !to.Equal(c.wt) {
			t.Errorf("-from %q -to %q: [%v, %v) %v, want [%v, %v)", c.from, c.to, f, to, err, c.wf, c.wt)
		}
	}
}

// TestGeneratePeriodUsage: every misuse is a usage error (exit status 2), never a silent default period.
func TestGeneratePeriodUsage(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct{ from, to, period string }{
		{"", "", ""},
		{"2026-10-01", "", "previous-day"},
		{"", "2026-10-02", "previous-month"},
		{"2026-10-01", "2026-10-02", "previous-day"},
		{"", "", "yesterday"},
		{"", "", "previous-week"},
		{"", "", "Previous-Day"},
		{"", "2026-10-02", ""},
		{"last month", "", ""},
	} {
		_, _, err := generatePeriod(c.from, c.to, c.period, now)
		var ue cli.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("-from %q -to %q -period %q: %v, want a usage error", c.from, c.to, c.period, err)
		}
	}
}

// TestGenerateFlagsUsage: the generate command line with -period and -from together fails as a usage error
// before any configuration is read or service dialled.
func TestGenerateFlagsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-config", "/nonexistent.yaml", "-kind", "daily_review", "-period", "previous-day", "-from", "2026-10-01"},
		{"-config", "/nonexistent.yaml", "-period", "previous-year"},
		{"-config", "/nonexistent.yaml", "-period"},
	} {
		err := Generate(t.Context(), args, "test", io.Discard)
		var ue cli.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("generate %q: %v, want a usage error", args, err)
		}
	}
}

func FuzzGeneratePeriod(f *testing.F) {
	for _, s := range []string{"previous-day", "previous-month", "", "previous-", "2026-10"} {
		f.Add(s, "", int64(1795000000))
	}
	f.Add("", "2026-10-01", int64(0))
	f.Fuzz(func(t *testing.T, period, from string, unix int64) {
		now := time.Unix(unix%(1<<36), 0)
		fr, to, err := generatePeriod(from, "", period, now)
		if err != nil {
			var ue cli.UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("%q %q: non-usage error %v", period, from, err)
			}
			return
		}
		if period != "" && (!fr.Before(to) || to.After(now) || fr.Location() != time.UTC) {
			t.Fatalf("%q at %v: [%v, %v) is not a past UTC period", period, now, fr, to)
		}
	})
}
