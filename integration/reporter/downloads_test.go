package reporter_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/build"
	"github.com/pangate/pangate/reporter/manifest"
)

// versitygwWithAccessLog starts a versitygw of its own (the binary the local stack installs) serving a
// temporary directory with --access-log, as deploy/local runs the stack's since issue 15.3: the shared
// server may predate that and must not be restarted by a test. It returns the endpoint, keys and log path.
func versitygwWithAccessLog(t *testing.T) (endpoint, access, secret, logPath string) {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		out, gerr := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(strings.SplitN(string(out), string(os.PathListSeparator), 2)[0]), "bin", "versitygw")
		if _, serr := os.Stat(bin); gerr != nil || serr != nil {
			t.Fatalf("versitygw not found in PATH or $(go env GOPATH)/bin: run `go tool task up` (it installs versitygw v1.8.0)")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint = l.Addr().String()
	l.Close()
	dir := t.TempDir()
	logPath = filepath.Join(dir, "access.log")
	access, secret = "reporterh7downloads", "reporterh7downloadssecret"
	cmd := exec.Command(bin, "--port", endpoint, "--region", "us-east-1", "--access-log", logPath, "posix", filepath.Join(dir, "data"))
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+access, "ROOT_SECRET_ACCESS_KEY="+secret)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	cl, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cl.ListBuckets(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw on %s not ready: %v: %s", endpoint, err, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return endpoint, access, secret, logPath
}

// TestPackageDownloadsIn10213: issue 15.3, downloads of evidence packages are access to audit logs. A
// package stored in S3 is fetched with a real GET; the next package's 10.2.1.3 package-downloads population
// lists it (requester, address, package, object, status) from the server's access log, read both from
// the file versitygw writes and from a log bucket prefix (the AWS way), and 10.2.1.3 is met by it.
func TestPackageDownloadsIn10213(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	endpoint, access, secret, logPath := versitygwWithAccessLog(t)
	cfg := bucket.S3{Endpoint: endpoint, Bucket: "evidence-h7", AccessKey: access, SecretKey: secret, Region: "us-east-1"}
	store, err := bucket.NewS3(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Client().MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	store.WithAccessLogs(bucket.AccessLogs{File: logPath})
	// The period holds now: the access log has real times.
	now := time.Now().UTC()
	from := now.Truncate(24 * time.Hour)
	to := from.Add(24 * time.Hour)
	b := en.builder(store, now.Add(time.Minute))
	first, err := b.Build(ctx, manifest.KindPackage, from, to)
	if err != nil {
		t.Fatal(err)
	}
	// A download of the first package's summary (the reporter itself reads only manifests).
	key := strings.TrimPrefix(first.Location, "s3://"+cfg.Bucket+"/") + "summary.html"
	obj, err := store.Client().GetObject(ctx, cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, obj)
	obj.Close()
	if err != nil || n == 0 {
		t.Fatalf("GET %s: %s bytes, %v", key, fmt.Sprint(n), err)
	}
	second, err := en.builder(store, time.Now().UTC().Add(time.Minute)).Build(ctx, manifest.KindPackage, from, to)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := store.Get(ctx, second.Location, dir); err != nil {
		t.Fatal(err)
	}
	recs := readCSV(t, dir, build.DownloadsFile)
	found := false
	for i, obj := range col(t, recs, "object") {
		if obj != key {
			continue
		}
		found = true
		row := map[string]string{}
		for j, c := range recs[0] {
			row[c] = recs[i+1][j]
		}
		// versitygw v1.8.0 logs 0 bytes sent for a streamed object, so the size is not compared.
		if row["requester"] != access || row["remote_ip"] != "127.0.0.1" || row["status"] != "200" || row["operation"] != "s3_GetObject" ||
			row["package"]+"summary.html" != key {
			t.Errorf("download row %v: want requester %s, 127.0.0.1, s3_GetObject 200, package of %s", row, access, key)
		}
		if ts, err := time.Parse(time.RFC3339Nano, row["ts"]); err != nil || ts.Before(now.Add(-time.Minute)) || ts.After(time.Now().Add(time.Minute)) {
			t.Errorf("download time %q: want about now (%v)", row["ts"], err)
		}
	}
	if !found {
		raw, _ := os.ReadFile(logPath)
		var lines []string
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.Contains(l, "summary.html") {
				lines = append(lines, l)
			}
		}
		t.Fatalf("the GET of %s is not in %s:\n%v\naccess log lines of summary.html:\n%s", key, build.DownloadsFile, recs, strings.Join(lines, "\n"))
	}
	if got, why := verdictOf(t, dir, "PCI DSS v4.0.1", "10.2.1.3"); got != "met" || !strings.Contains(why, build.DownloadsFile+": met") {
		t.Errorf("10.2.1.3 verdict %q (%s): want met by the downloads", got, why)
	}

	// The AWS way: the server delivers its log as objects under a prefix of a log bucket.
	logs := "evidence-h7-logs"
	if err := store.Client().MakeBucket(ctx, logs, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Client().FPutObject(ctx, logs, "s3-access/2026-12-06-00-00-00-0001", logPath, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	store.WithAccessLogs(bucket.AccessLogs{Bucket: logs, Prefix: "s3-access/"})
	ds, src, err := store.Downloads(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	found = false
	for _, d := range ds {
		found = found || (d.Key == key && d.Requester == access && d.Status == 200)
	}
	if !found || src != "s3://"+logs+"/s3-access/" {
		t.Fatalf("downloads from the log bucket (%s): %+v, want the GET of %s", src, ds, key)
	}
}
