package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3 is versitygw serving the S3 API over a directory (its posix backend).
type s3 struct{}

const (
	versitygwModule  = "github.com/versity/versitygw"
	versitygwPackage = versitygwModule + "/cmd/versitygw"
	versitygwVersion = "v1.8.0"
)

func (*s3) name() string     { return "s3" }
func (*s3) endpoint() string { return fmt.Sprintf("%s:%d", host, s3Port) }

// binary is versitygw in the Go bin directory ($GOBIN or $(go env GOPATH)/bin),
// which outlives .stack and so caches the build across clean checkouts.
func (*s3) binary(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "-json", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	var env struct{ GOBIN, GOPATH string }
	if err := json.Unmarshal(out, &env); err != nil {
		return "", fmt.Errorf("go env -json: %w", err)
	}
	if env.GOBIN != "" {
		return filepath.Join(env.GOBIN, "versitygw"), nil
	}
	gopath := filepath.SplitList(env.GOPATH)
	if len(gopath) == 0 || gopath[0] == "" {
		return "", fmt.Errorf("go env GOPATH is empty; set GOBIN or GOPATH")
	}
	return filepath.Join(gopath[0], "bin", "versitygw"), nil
}

func (v *s3) installed(*stack) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bin, err := v.binary(ctx)
	if err != nil || !fileExists(bin) {
		return false
	}
	out, err := exec.CommandContext(ctx, "go", "version", "-m", bin).Output()
	return err == nil && strings.Contains(string(out), versitygwModule+"\t"+versitygwVersion)
}

func (v *s3) install(ctx context.Context, s *stack) error {
	bin, err := v.binary(ctx)
	if err != nil {
		return err
	}
	// GOFLAGS from a caller (say -mod=vendor) must not leak into an install
	// of another module.
	return s.run(ctx, "s3-install", []string{"GOBIN=" + filepath.Dir(bin), "GOFLAGS=-buildvcs=false"},
		"go", "install", versitygwPackage+"@"+versitygwVersion)
}

func (v *s3) dataDir(s *stack) string { return s.path("s3", "data") }

// accessLog is where versitygw writes its server access log: .stack/s3/access.log.
func (v *s3) accessLog(s *stack) string { return s.path("s3", "access.log") }

func (v *s3) start(ctx context.Context, s *stack) error {
	if pid, ok := s.ownPid("s3", v.dataDir(s)); ok {
		s.logf("versitygw process %d is alive; waiting for it", pid)
		return nil
	}
	bin, err := v.binary(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(v.dataDir(s), 0o755); err != nil {
		return err
	}
	// Keys through the environment, not argv, so ps does not show them.
	env := []string{
		"ROOT_ACCESS_KEY_ID=" + s.secrets["S3_ACCESS_KEY"],
		"ROOT_SECRET_ACCESS_KEY=" + s.secrets["S3_SECRET_KEY"],
	}
	// --access-log: S3 server access records (AWS log fields, versitygw's variant) of every request, the
	// reporter's source for package downloads in 10.2.1.3 (bucket.access_logs.file; docs/evidence.md).
	return s.spawn("s3", env, bin, "--port", v.endpoint(), "--region", s3Region, "--access-log", v.accessLog(s), "posix", v.dataDir(s))
}

func (v *s3) stop(ctx context.Context, s *stack) error {
	return s.terminate(ctx, "s3", v.dataDir(s), 20*time.Second)
}

// ready lists buckets with the stack's keys (a signed S3 request).
func (v *s3) ready(ctx context.Context, s *stack) error {
	cl, err := minio.New(v.endpoint(), &minio.Options{
		Creds:  credentials.NewStaticV4(s.secrets["S3_ACCESS_KEY"], s.secrets["S3_SECRET_KEY"], ""),
		Region: s3Region,
	})
	if err != nil {
		return err
	}
	_, err = cl.ListBuckets(ctx)
	return err
}
