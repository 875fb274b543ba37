package bucket

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pangate/pangate/reporter/manifest"
)

// S3Store keeps packages in an S3-compatible bucket.
type S3Store struct {
	cfg  S3
	cl   *minio.Client
	logs AccessLogs
}

// HasAccessLogs reports whether downloads can be listed (Config.AccessLogs is set).
func (s *S3Store) HasAccessLogs() bool { return s.logs.Configured() }

// WithAccessLogs sets where Downloads reads the server access logs (New sets Config.AccessLogs).
func (s *S3Store) WithAccessLogs(a AccessLogs) *S3Store { s.logs = a; return s }

// NewS3 connects to the bucket's server (no request is made until first use).
func NewS3(cfg S3) (*S3Store, error) {
	cl, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure, Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket: S3 client for %s: %w", cfg.Endpoint, err)
	}
	if cfg.RetainDays == 0 {
		cfg.RetainDays = 400
	}
	if cfg.LockMode == "" {
		cfg.LockMode = "COMPLIANCE"
	}
	return &S3Store{cfg: cfg, cl: cl}, nil
}

// Client exposes the minio client (tests inspect objects with it).
func (s *S3Store) Client() *minio.Client { return s.cl }

func (s *S3Store) location(key string) string { return "s3://" + s.cfg.Bucket + "/" + key }

// Prepare implements Store. The version is the next free v<N> under the period by listing; Object Lock is
// detected from the bucket's configuration (servers without it, such as versitygw over a plain
// directory, answer with an error that is recorded as the reason).
func (s *S3Store) Prepare(ctx context.Context, kind, period string) (manifest.Storage, error) {
	ok, err := s.cl.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return manifest.Storage{}, fmt.Errorf("bucket: reach S3 server %s: %w", s.cfg.Endpoint, err)
	}
	if !ok {
		return manifest.Storage{}, fmt.Errorf("bucket: S3 bucket %q does not exist on %s: create it (with Object Lock enabled for WORM retention)", s.cfg.Bucket, s.cfg.Endpoint)
	}
	prefix := versionPrefix(kind, period)
	var names []string
	for obj := range s.cl.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
		if obj.Err != nil {
			return manifest.Storage{}, fmt.Errorf("bucket: list %s: %w", prefix, obj.Err)
		}
		rest := strings.TrimPrefix(obj.Key, prefix)
		if i := strings.IndexByte(rest, '/'); i > 0 {
			names = append(names, rest[:i])
		}
	}
	key := prefix + fmt.Sprintf("v%d/", nextVersion(names))
	st := manifest.Storage{Kind: "s3", Location: s.location(key)}
	enabled, mode, _, _, err := s.cl.GetObjectLockConfig(ctx, s.cfg.Bucket)
	switch {
	case err != nil:
		st.Note = "Object Lock not available on this bucket/server: " + err.Error()
	case enabled != "Enabled":
		st.Note = "Object Lock not enabled on bucket " + s.cfg.Bucket
	default:
		st.ObjectLock, st.LockMode, st.RetainDays = true, s.cfg.LockMode, s.cfg.RetainDays
		if mode != nil && st.LockMode == "" {
			st.LockMode = string(*mode)
		}
	}
	return st, nil
}

func (s *S3Store) keyOf(location string) (string, error) {
	pre := "s3://" + s.cfg.Bucket + "/"
	if !strings.HasPrefix(location, pre) {
		return "", fmt.Errorf("%w: %s is not in bucket %s", ErrNotFound, location, s.cfg.Bucket)
	}
	return strings.TrimPrefix(location, pre), nil
}

// Put implements Store: every file, manifest.json and manifest.sig last, so a listing never finds a
// manifest whose files are not there yet. An existing manifest at the key means another run took the
// version: Put refuses rather than overwrite.
func (s *S3Store) Put(ctx context.Context, st manifest.Storage, dir string) error {
	key, err := s.keyOf(st.Location)
	if err != nil {
		return err
	}
	if _, err := s.cl.StatObject(ctx, s.cfg.Bucket, key+manifest.FileName, minio.StatObjectOptions{}); err == nil {
		return fmt.Errorf("bucket: %s already holds a package: refusing to overwrite", st.Location)
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel != manifest.FileName && rel != manifest.SignatureName {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	files = append(files, manifest.SignatureName, manifest.FileName)
	for _, rel := range files {
		opts := minio.PutObjectOptions{ContentType: contentType(rel)}
		if st.ObjectLock {
			opts.Mode = minio.RetentionMode(st.LockMode)
			opts.RetainUntilDate = time.Now().Add(time.Duration(st.RetainDays) * 24 * time.Hour)
		}
		if _, err := s.cl.FPutObject(ctx, s.cfg.Bucket, key+rel, filepath.Join(dir, filepath.FromSlash(rel)), opts); err != nil {
			return fmt.Errorf("bucket: upload %s to %s: %w", rel, st.Location, err)
		}
	}
	return nil
}

// Latest implements Store.
func (s *S3Store) Latest(ctx context.Context, kind string) ([]byte, string, error) {
	prefix := Prefix + "/" + kind + "/"
	var best minio.ObjectInfo
	for obj := range s.cl.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return nil, "", fmt.Errorf("bucket: list %s on %s: %w", prefix, s.cfg.Endpoint, obj.Err)
		}
		if path.Base(obj.Key) != manifest.FileName {
			continue
		}
		if best.Key == "" || obj.LastModified.After(best.LastModified) || (obj.LastModified.Equal(best.LastModified) && laterKey(obj.Key, best.Key)) {
			best = obj
		}
	}
	if best.Key == "" {
		return nil, "", nil
	}
	b, err := s.read(ctx, best.Key)
	if err != nil {
		return nil, "", err
	}
	return b, s.location(strings.TrimSuffix(best.Key, manifest.FileName)), nil
}

func (s *S3Store) read(ctx context.Context, key string) ([]byte, error) {
	o, err := s.cl.GetObject(ctx, s.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("bucket: get %s: %w", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		return nil, fmt.Errorf("bucket: read %s: %w", key, err)
	}
	return b, nil
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, location, dir string) error {
	key, err := s.keyOf(location)
	if err != nil {
		return err
	}
	n := 0
	for obj := range s.cl.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: key, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		rel := strings.TrimPrefix(obj.Key, key)
		if err := s.cl.FGetObject(ctx, s.cfg.Bucket, obj.Key, filepath.Join(dir, filepath.FromSlash(rel)), minio.GetObjectOptions{}); err != nil {
			return fmt.Errorf("bucket: download %s: %w", obj.Key, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, location)
	}
	return nil
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".csv":
		return "text/csv; charset=utf-8"
	case ".json", ".sig":
		return "application/json"
	default:
		return "text/plain; charset=utf-8"
	}
}
