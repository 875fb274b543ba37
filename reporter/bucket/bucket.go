// Package bucket stores evidence packages: in a local directory (the default) or in an S3-compatible bucket
// through minio-go, with Object Lock retention when the bucket has it enabled. A package is never written
// over: every run of a period gets the next version, packages/<kind>/<period>/v<N>/, found by listing.
package bucket

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pangate/pangate/reporter/manifest"
)

// Errors.
var (
	// ErrConfig is returned by Config.Validate.
	ErrConfig = errors.New("bucket: invalid config")
	// ErrNotFound is returned by Get for a location that holds no package.
	ErrNotFound = errors.New("bucket: no package at that location")
)

// Store keeps packages.
type Store interface {
	// Prepare reserves the next version of kind/period and says where it will go and whether retention
	// is enforced there, before the package is signed (the manifest records it).
	Prepare(ctx context.Context, kind, period string) (manifest.Storage, error)
	// Put uploads the package directory dir to the location Prepare returned.
	Put(ctx context.Context, st manifest.Storage, dir string) error
	// Latest returns the manifest bytes and location of the most recently stored package of kind, or
	// (nil, "", nil) when there is none.
	Latest(ctx context.Context, kind string) ([]byte, string, error)
	// Get copies the package at location into dir (for verify).
	Get(ctx context.Context, location, dir string) error
}

// Prefix is the top of every key.
const Prefix = "packages"

// Config chooses the store.
type Config struct {
	// Dir is the local directory for packages (used when S3.Bucket is empty).
	Dir string `yaml:"dir"`
	S3  S3     `yaml:"s3"`
	// AccessLogs is where the package bucket's server access logs are read from, for the downloads of
	// packages in 10.2.1.3 (optional; without it the package says downloads are not evidenced).
	AccessLogs AccessLogs `yaml:"access_logs"`
}

// S3 is an S3-compatible bucket.
type S3 struct {
	Endpoint  string `yaml:"endpoint"` // host:port
	Bucket    string `yaml:"bucket"`
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	Region    string `yaml:"region"`
	Secure    bool   `yaml:"secure"`
	// RetainDays is the Object Lock retention set on each object when the bucket supports it (default 400:
	// PCI DSS 10.5.1 asks for twelve months).
	RetainDays int `yaml:"retain_days"`
	// LockMode is GOVERNANCE or COMPLIANCE (default COMPLIANCE).
	LockMode string `yaml:"lock_mode"`
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.S3.Bucket == "" {
		if c.Dir == "" {
			return fmt.Errorf("%w: set bucket.dir (a local directory) or bucket.s3.bucket", ErrConfig)
		}
		if c.AccessLogs.Bucket != "" {
			return fmt.Errorf("%w: bucket.access_logs.bucket %q is read from the package bucket's S3 server, but packages go to the directory %s: set bucket.s3 or use bucket.access_logs.file", ErrConfig, c.AccessLogs.Bucket, c.Dir)
		}
		return nil
	}
	if c.S3.Endpoint == "" {
		return fmt.Errorf("%w: bucket.s3.endpoint is empty: set host:port of the S3 server", ErrConfig)
	}
	if c.S3.AccessKey == "" || c.S3.SecretKey == "" {
		return fmt.Errorf("%w: bucket.s3.access_key and secret_key are required for bucket %s", ErrConfig, c.S3.Bucket)
	}
	if m := c.S3.LockMode; m != "" && m != "GOVERNANCE" && m != "COMPLIANCE" {
		return fmt.Errorf("%w: bucket.s3.lock_mode %q: use GOVERNANCE or COMPLIANCE", ErrConfig, m)
	}
	if c.S3.RetainDays < 0 {
		return fmt.Errorf("%w: bucket.s3.retain_days %d is negative", ErrConfig, c.S3.RetainDays)
	}
	return nil
}

// New opens the configured store.
func New(cfg Config) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.S3.Bucket != "" {
		s, err := NewS3(cfg.S3)
		if err != nil {
			return nil, err
		}
		s.logs = cfg.AccessLogs
		return s, nil
	}
	l := NewLocal(cfg.Dir)
	l.logs = cfg.AccessLogs
	return l, nil
}

// PeriodName renders a period as a key segment: 2026-11-01_2026-12-01 (dates when both ends are midnight,
// else compact UTC timestamps).
func PeriodName(from, to time.Time) string {
	f := func(t time.Time) string {
		t = t.UTC()
		if t.Equal(t.Truncate(24 * time.Hour)) {
			return t.Format("2006-01-02")
		}
		return t.Format("20060102T150405Z")
	}
	return f(from) + "_" + f(to)
}

func versionPrefix(kind, period string) string { return Prefix + "/" + kind + "/" + period + "/" }

// nextVersion returns 1 + the highest v<N> among names.
func nextVersion(names []string) int {
	max := 0
	for _, n := range names {
		n = strings.TrimSuffix(n, "/")
		if !strings.HasPrefix(n, "v") {
			continue
		}
		if v, err := strconv.Atoi(n[1:]); err == nil && v > max {
			max = v
		}
	}
	return max + 1
}

// Local keeps packages under a directory.
type Local struct {
	root string
	logs AccessLogs
}

// NewLocal stores packages under root.
func NewLocal(root string) *Local { return &Local{root: root} }

// HasAccessLogs reports whether downloads can be listed (Config.AccessLogs is set).
func (l *Local) HasAccessLogs() bool { return l.logs.Configured() }

// WithAccessLogs sets where Downloads reads the access log (New sets Config.AccessLogs).
func (l *Local) WithAccessLogs(a AccessLogs) *Local { l.logs = a; return l }

// Prepare implements Store: it creates v<N> atomically (Mkdir fails if another run took it).
func (l *Local) Prepare(ctx context.Context, kind, period string) (manifest.Storage, error) {
	base := filepath.Join(l.root, filepath.FromSlash(versionPrefix(kind, period)))
	if err := os.MkdirAll(base, 0o755); err != nil {
		return manifest.Storage{}, fmt.Errorf("bucket: create %s: %w", base, err)
	}
	for tries := 0; tries < 100; tries++ {
		ents, err := os.ReadDir(base)
		if err != nil {
			return manifest.Storage{}, err
		}
		names := make([]string, len(ents))
		for i, e := range ents {
			names[i] = e.Name()
		}
		dir := filepath.Join(base, "v"+strconv.Itoa(nextVersion(names)))
		if err := os.Mkdir(dir, 0o755); err != nil {
			if errors.Is(err, os.ErrExist) {
				continue
			}
			return manifest.Storage{}, err
		}
		return manifest.Storage{Kind: "local", Location: dir, Note: "local directory: no retention lock; copy packages to a WORM store"}, nil
	}
	return manifest.Storage{}, fmt.Errorf("bucket: could not reserve a version under %s", base)
}

// Put implements Store: the package is built in place when dir is the location, else copied.
func (l *Local) Put(ctx context.Context, st manifest.Storage, dir string) error {
	if filepath.Clean(dir) == filepath.Clean(st.Location) {
		return nil
	}
	return copyDir(dir, st.Location)
}

// Latest implements Store.
func (l *Local) Latest(ctx context.Context, kind string) ([]byte, string, error) {
	base := filepath.Join(l.root, Prefix, kind)
	var best string
	var bestT time.Time
	err := filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if d.IsDir() || d.Name() != manifest.FileName {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if best == "" || info.ModTime().After(bestT) || (info.ModTime().Equal(bestT) && laterKey(filepath.ToSlash(p), filepath.ToSlash(best))) {
			best, bestT = p, info.ModTime()
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("bucket: list %s: %w", base, err)
	}
	if best == "" {
		return nil, "", nil
	}
	b, err := os.ReadFile(best)
	if err != nil {
		return nil, "", err
	}
	return b, filepath.Dir(best), nil
}

// Get implements Store.
func (l *Local) Get(ctx context.Context, location, dir string) error {
	if _, err := os.Stat(filepath.Join(location, manifest.FileName)); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNotFound, location, err)
	}
	return copyDir(location, dir)
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
}

// laterKey orders two manifest keys written in the same second (S3 times have one-second resolution): by
// period, then by version number (v10 after v9).
func laterKey(a, b string) bool {
	pa, va := splitVersion(a)
	pb, vb := splitVersion(b)
	if pa != pb {
		return pa > pb
	}
	return va > vb
}

func splitVersion(key string) (string, int) {
	dir := path.Dir(key) // …/<period>/v<N>
	v, err := strconv.Atoi(strings.TrimPrefix(path.Base(dir), "v"))
	if err != nil {
		return key, 0
	}
	return path.Dir(dir), v
}
