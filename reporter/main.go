// Command reporter makes signed PCI DSS evidence packages from pangate's audit store and verifies them
// offline.
//
//	reporter generate -config reporter.yaml -from 2026-10-01 -to 2026-11-01 [-kind package|daily_review] [-out DIR]
//	reporter generate -config reporter.yaml -period previous-day|previous-month [-kind …] [-out DIR]
//	reporter run -config reporter.yaml                  # daemon: daily review + monthly package on cron schedules
//	reporter verify -key reporter.pub [-fingerprint sha256:…] [-config reporter.yaml] PACKAGE [-previous PREVIOUS_PACKAGE]
//	reporter transcript -config reporter.yaml -session ID [-json]
//	reporter review -package DIR -key REVIEWER.key -reviewer "Name <email>" -decision no_action|followed_up|escalated [-notes TEXT] [-ticket ID]
//	reporter keygen -out reporter                       # writes reporter.key (private) and reporter.pub
//
// -from and -to take RFC 3339 times, dates (YYYY-MM-DD) or a month (YYYY-MM, -to optional). -period names a
// period relative to now instead (UTC, the periods `reporter run` uses: reporter/schedule), so a Kubernetes
// CronJob without a shell can run generate; it excludes -from and -to. Exit status, as for every pangate
// binary: 0 success (and -h), 1 failure (verify: any check failed), 2 usage or configuration error (a
// missing or invalid configuration file, a key file that does not load, ClickHouse refusing the configured
// credentials or database).
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pangate/pangate/internal/chlogin"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/build"
	"github.com/pangate/pangate/reporter/config"
	"github.com/pangate/pangate/reporter/emit"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/progress"
	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/reporter/schedule"
	"github.com/pangate/pangate/reporter/verify"
	"github.com/pangate/pangate/schemas"
)

// Version is the generator version written in every manifest.
var Version = "0.1.0"

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr, 2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "generate":
		err = cmdGenerate(ctx, os.Args[2:])
	case "run":
		err = cmdRun(ctx, os.Args[2:])
	case "verify":
		err = cmdVerify(ctx, os.Args[2:])
	case "transcript":
		err = cmdTranscript(ctx, os.Args[2:])
	case "keygen":
		err = cmdKeygen(os.Args[2:])
	case "review":
		err = cmdReview(os.Args[2:])
	case "-h", "-help", "--help", "help":
		usage(os.Stdout, 0)
	default:
		usage(os.Stderr, 2)
	}
	os.Exit(exitCode(err))
}

// exitCode prints err and returns the exit status: 0 none (or -h: the flag package printed the usage),
// 2 usage or configuration, 1 anything else.
func exitCode(err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(os.Stderr, "reporter:", err)
	var ue usageError
	var ce configError
	if errors.As(err, &ue) || errors.As(err, &ce) || errors.Is(err, config.ErrInvalid) || errors.Is(err, chlogin.ErrRefused) {
		return 2
	}
	return 1
}

// configError is a configuration mistake (exit 2): the file, a key, credentials.
type configError struct{ err error }

func (c configError) Error() string { return c.err.Error() }
func (c configError) Unwrap() error { return c.err }

// loadConfig is config.Load whose every error is a configError.
func loadConfig(path string) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, configError{err}
	}
	return cfg, nil
}

// openStore opens the audit store. When that fails, a login check tells a refusal (wrong password, no
// such user, a database the user may not use: configuration, naming the setting) from a server that does
// not answer.
func openStore(ctx context.Context, cfg config.Config) (*query.DB, error) {
	db, err := query.Open(ctx, cfg.ClickHouse)
	if err == nil {
		return db, nil
	}
	if errors.Is(err, query.ErrConfig) {
		return nil, configError{err}
	}
	login := chlogin.Login{Addrs: []string{cfg.ClickHouse.Addr}, Database: cfg.ClickHouse.Database, User: cfg.ClickHouse.User,
		Password: cfg.ClickHouse.Password, DatabaseSetting: "clickhouse.database (PANGATE_REPORTER_DATABASE)",
		UserSetting: "clickhouse.user (PANGATE_REPORTER_CLICKHOUSE_USER)", PasswordSetting: "clickhouse.password (PANGATE_REPORTER_CLICKHOUSE_PASSWORD)"}
	if x := chlogin.Check(ctx, login, 5*time.Second); errors.Is(x, chlogin.ErrRefused) {
		return nil, configError{x}
	}
	return nil, err
}

func usage(w *os.File, code int) {
	fmt.Fprintln(w, `usage:
  reporter generate -config FILE -from TIME [-to TIME] [-kind package|daily_review] [-out DIR]
  reporter generate -config FILE -period previous-day|previous-month [-kind package|daily_review] [-out DIR]
  reporter run -config FILE
  reporter verify -key PUBLIC.pem [-fingerprint sha256:…] [-config FILE] PACKAGE_DIR [-previous PREVIOUS_PACKAGE_DIR]
  reporter transcript -config FILE -session ID [-json]
  reporter review -package DIR -key REVIEWER.key -reviewer NAME -decision no_action|followed_up|escalated [-notes TEXT] [-ticket ID]
  reporter keygen -out PREFIX`)
	os.Exit(code)
}

type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// parseInterleaved parses flags that may come before or after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func logger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})).With("service", "reporter")
}

// parseTime reads RFC 3339, a date, or a month; month reports whether it was a month.
func parseTime(s string) (t time.Time, month bool, err error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), false, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01", s, time.UTC); err == nil {
		return t, true, nil
	}
	return time.Time{}, false, usageError{fmt.Sprintf("time %q: use RFC 3339 (2026-10-01T00:00:00Z), a date (2026-10-01) or a month (2026-10)", s)}
}

// setup loads the config and opens what a builder needs.
func setup(ctx context.Context, path string, log *slog.Logger, out string) (config.Config, *build.Builder, func(), error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return cfg, nil, nil, err
	}
	if out != "" {
		cfg.Bucket = bucket.Config{Dir: out}
	}
	if len(cfg.Kafka.Brokers) == 0 {
		return cfg, nil, nil, fmt.Errorf("%w: kafka.brokers is empty: every package is recorded as a report.generated event on the audit topic (docs/evidence.md \"Trust anchor\"); set kafka.brokers (or PANGATE_REPORTER_KAFKA_BROKERS) to the audit cluster's brokers", config.ErrInvalid)
	}
	if cfg.SigningKey == "" {
		return cfg, nil, nil, fmt.Errorf("%w: signing_key is empty: create one with `reporter keygen -out reporter` and set signing_key (or PANGATE_REPORTER_SIGNING_KEY)", config.ErrInvalid)
	}
	key, err := manifest.LoadPrivateKey(cfg.SigningKey)
	if err != nil {
		return cfg, nil, nil, configError{fmt.Errorf("signing_key (PANGATE_REPORTER_SIGNING_KEY): %w", err)}
	}
	keys := map[string]ed25519.PublicKey{}
	for _, p := range cfg.GatewayKeys {
		k, err := manifest.LoadPublicKey(p)
		if err != nil {
			return cfg, nil, nil, configError{fmt.Errorf("gateway_keys (PANGATE_REPORTER_GATEWAY_KEYS): %w", err)}
		}
		keys[schemas.KeyID(k)] = k
	}
	store, err := bucket.New(cfg.Bucket)
	if err != nil {
		return cfg, nil, nil, err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return cfg, nil, nil, err
	}
	b, err := build.New(build.Config{Version: Version, GatewayKeys: keys, Margin: cfg.Margin, Tolerance: cfg.Tolerance}, db, store, key, log)
	if err != nil {
		db.Close()
		return cfg, nil, nil, err
	}
	closers := []func(){func() { db.Close() }}
	// Every package is recorded as report.generated (manifest hash, key id) whatever else is configured:
	// the record is what verify -config checks a package against, and what shows a deleted package
	// (docs/evidence.md "Trust anchor").
	em, err := emit.New(cfg.Kafka.Brokers, cfg.Kafka.Topic, schemas.Source{Instance: cfg.Instance, Version: Version})
	if err != nil {
		db.Close()
		return cfg, nil, nil, err
	}
	b.Emitter = em
	closers = append(closers, em.Close)
	return cfg, b, func() {
		for _, c := range closers {
			c()
		}
	}, nil
}

func cmdGenerate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration (PANGATE_REPORTER_* variables override it)")
	fromS := fs.String("from", "", "start of the period (inclusive)")
	toS := fs.String("to", "", "end of the period (exclusive); default: one month after a month, one day after a date")
	kind := fs.String("kind", manifest.KindPackage, "package or daily_review")
	period := fs.String("period", "", "instead of -from/-to: "+periodPreviousDay+" or "+periodPreviousMonth+" (UTC, relative to now)")
	out := fs.String("out", "", "write the package under this local directory instead of the configured bucket")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	from, to, err := generatePeriod(*fromS, *toS, *period, time.Now())
	if err != nil {
		return err
	}
	// The progress bar tells the stages; the log says only what went wrong.
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, b, closeAll, err := setup(ctx, *path, quiet, *out)
	if err != nil {
		return err
	}
	defer closeAll()
	_ = cfg
	bar := progress.New(os.Stderr)
	b.Progress = bar
	res, err := b.Build(ctx, *kind, from, to)
	bar.Done()
	if res != nil {
		fmt.Printf("package: %s\nmanifest sha256: %s\nevents: %d, exceptions: %d, integrity: %s (%d failures, %d warnings), %s\n",
			res.Location, res.ManifestHash, res.Events, res.Exceptions, verdict(res), res.Integrity.Failures, res.Integrity.Warnings, res.Elapsed.Round(time.Millisecond))
		if res.Manifest.Empty {
			fmt.Println("the period holds no events; the package records that")
		}
	}
	return err
}

// The relative periods of generate -period.
const (
	periodPreviousDay   = "previous-day"
	periodPreviousMonth = "previous-month"
)

// generatePeriod returns the [from, to) of generate: either -period relative to now, computed by
// reporter/schedule exactly as `reporter run` does (so a CronJob and the daemon cover the same periods), or
// -from with an optional -to. Every mistake is a usageError (exit 2).
func generatePeriod(fromS, toS, period string, now time.Time) (time.Time, time.Time, error) {
	if period != "" {
		if fromS != "" || toS != "" {
			return time.Time{}, time.Time{}, usageError{"generate: -period excludes -from and -to: give either -period or -from [-to]"}
		}
		switch period {
		case periodPreviousDay:
			from, to := schedule.PreviousDay(now)
			return from, to, nil
		case periodPreviousMonth:
			from, to := schedule.PreviousMonth(now)
			return from, to, nil
		}
		return time.Time{}, time.Time{}, usageError{fmt.Sprintf("generate: -period %q: use %s or %s", period, periodPreviousDay, periodPreviousMonth)}
	}
	if fromS == "" {
		return time.Time{}, time.Time{}, usageError{"generate: -from (or -period " + periodPreviousDay + "|" + periodPreviousMonth + ") is required"}
	}
	from, month, err := parseTime(fromS)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	var to time.Time
	switch {
	case toS != "":
		if to, _, err = parseTime(toS); err != nil {
			return time.Time{}, time.Time{}, err
		}
	case month:
		to = from.AddDate(0, 1, 0)
	default:
		to = from.AddDate(0, 0, 1)
	}
	return from, to, nil
}

func verdict(r *build.Result) string {
	if r.Integrity.OK {
		return "verified"
	}
	return "FAILED"
}

func cmdRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	log := logger(cfg.LogLevel)
	_, b, closeAll, err := setup(ctx, *path, log, "")
	if err != nil {
		return err
	}
	defer closeAll()
	b.Progress = progress.New(os.Stderr)
	s, err := schedule.New(schedule.Config{Daily: cfg.Schedule.Daily, Monthly: cfg.Schedule.Monthly}, func(ctx context.Context, kind string, from, to time.Time) error {
		_, err := b.Build(ctx, kind, from, to)
		return err
	}, log)
	if err != nil {
		return err
	}
	log.Info("reporter daemon started", "daily", cfg.Schedule.Daily, "monthly", cfg.Schedule.Monthly, "database", cfg.ClickHouse.Database)
	s.Run(ctx)
	return nil
}

func cmdVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	keyPath := fs.String("key", "", "the reporter's public key (PEM)")
	prev := fs.String("previous", "", "the previous package of the chain, to check the link")
	fingerprint := fs.String("fingerprint", "", "the reporter key's fingerprint (sha256:…) obtained out of band: the key must be this one")
	path := fs.String("config", "", "reporter YAML: also check the audit store holds this package's report.generated event")
	rf := addReviewFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *keyPath == "" || len(pos) != 1 {
		return usageError{"verify: usage: reporter verify -key PUBLIC.pem [-fingerprint sha256:…] [-config reporter.yaml] PACKAGE_DIR [-previous PREVIOUS_DIR]"}
	}
	pub, err := manifest.LoadPublicKey(*keyPath)
	if err != nil {
		return usageError{err.Error()}
	}
	r := verify.Package(pos[0], pub, *prev)
	if *fingerprint != "" {
		r.Pinned(pub, *fingerprint)
	}
	if *path != "" && r.ManifestHash != "" {
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		db, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer db.Close()
		rows, err := db.ReportRecords(ctx, r.ManifestHash)
		if err != nil {
			return err
		}
		recs := make([]verify.Record, 0, len(rows))
		for _, row := range rows {
			recs = append(recs, verify.Record{Time: row[0], Instance: row[1], Location: row[2], ManifestHash: row[3], KeyID: row[4]})
		}
		r.Recorded(recs, schemas.KeyID(pub))
	}
	if err := checkReviews(r, pos[0], pub, rf); err != nil {
		return err
	}
	if err := r.Err(); err != nil {
		return err
	}
	fmt.Printf("OK: %s: signature by key %s, %d files match manifest %s", pos[0], schemas.KeyID(pub), r.Files, r.ManifestHash)
	if *fingerprint != "" {
		fmt.Print(", key matches the pinned fingerprint")
	}
	if *path != "" {
		fmt.Print(", recorded in the audit store")
	}
	if *prev != "" {
		fmt.Printf(", chained to %s", *prev)
	}
	fmt.Println()
	return nil
}

func cmdTranscript(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("transcript", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration")
	session := fs.String("session", "", "session id")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	if *session == "" {
		return usageError{"transcript: -session is required"}
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	tr, err := build.Transcript(ctx, db, *session)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := tr.JSON()
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(b)
		return err
	}
	fmt.Print(tr.Text())
	return nil
}

func cmdKeygen(args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	out := fs.String("out", "reporter", "file prefix: writes PREFIX.key (0600) and PREFIX.pub")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	pub, key, err := manifest.GenerateKey()
	if err != nil {
		return err
	}
	kb, err := manifest.EncodePrivateKey(key)
	if err != nil {
		return err
	}
	pb, err := manifest.EncodePublicKey(pub)
	if err != nil {
		return err
	}
	if _, err := os.Stat(*out + ".key"); err == nil {
		return fmt.Errorf("keygen: %s.key exists: refusing to overwrite a signing key", *out)
	}
	if err := os.WriteFile(*out+".key", kb, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".pub", pb, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s.key and %s.pub (key id %s)\n", *out, *out, schemas.KeyID(pub))
	return nil
}
