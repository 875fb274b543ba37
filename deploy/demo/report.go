package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const evidenceBucket = "pangate-evidence"

// report generates today's evidence package from ClickHouse with the reporter, stores it in the bucket, and
// verifies it offline with the reporter's public key alone.
func (d *demo) report(ctx context.Context) error {
	d.step("evidence package: generate from ClickHouse, sign, store in the bucket, verify offline")
	keys := filepath.Join(d.dir, "keys")
	if _, err := os.Stat(filepath.Join(keys, "reporter.key")); err != nil {
		if out, err := execOut(ctx, d.bin("reporter"), "keygen", "-out", filepath.Join(keys, "reporter")); err != nil {
			return fmt.Errorf("reporter keygen: %v: %s", err, out)
		}
	}
	bucketCfg := fmt.Sprintf("  dir: %q\n", filepath.Join(d.dir, "packages"))
	if d.o.real {
		bucketCfg = fmt.Sprintf("  s3: {endpoint: %q, bucket: %s, access_key: %q, secret_key: %q, region: %q}\n",
			d.env["PANGATE_S3_ENDPOINT"], evidenceBucket, d.env["PANGATE_S3_ACCESS_KEY"], d.env["PANGATE_S3_SECRET_KEY"], d.env["PANGATE_S3_REGION"])
		if err := d.ensureBucket(ctx, evidenceBucket); err != nil {
			return err
		}
	}
	// kafka: every package is recorded as report.generated on the demo's audit topic (docs/evidence.md
	// "Trust anchor").
	cfg := fmt.Sprintf(`instance: demo-reporter
clickhouse: {addr: %q, database: %s, user: reporter}
kafka: {brokers: [%s], topic_prefix: %q}
signing_key: %q
gateway_keys: [%q]
bucket:
%s`, d.env["PANGATE_CLICKHOUSE_ADDR"], d.chDatabase, strings.Join(d.brokers, ", "), d.prefix, filepath.Join(keys, "reporter.key"),
		filepath.Join(keys, "checkpoint.pub.pem"), bucketCfg)
	cfgPath := filepath.Join(d.dir, "reporter.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	today := time.Now().UTC().Format("2006-01-02")
	tomorrow := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02")
	cmd := commandEnv(ctx, d.bin("reporter"), []string{"PANGATE_REPORTER_CLICKHOUSE_PASSWORD=" + d.env["PANGATE_CLICKHOUSE_REPORTER_PASSWORD"]},
		"generate", "-config", cfgPath, "-from", today, "-to", tomorrow)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("reporter generate: %v\n%s", err, out)
	}
	var location string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "package: ") {
			location = strings.TrimSpace(strings.TrimPrefix(line, "package: "))
		}
		if strings.HasPrefix(line, "package: ") || strings.HasPrefix(line, "manifest sha256: ") || strings.HasPrefix(line, "events: ") {
			fmt.Println("   " + line)
		}
	}
	if location == "" {
		return fmt.Errorf("reporter generate printed no package location:\n%s", out)
	}
	d.pkgDir = location
	local := location
	if strings.HasPrefix(location, "s3://") {
		local = filepath.Join(d.dir, "verify", filepath.Base(strings.TrimSuffix(location, "/")))
		if err := d.download(ctx, location, local); err != nil {
			return err
		}
	}
	vout, err := execOut(ctx, d.bin("reporter"), "verify", "-key", filepath.Join(keys, "reporter.pub"), local)
	if err != nil {
		d.pkgVerified = "VERIFICATION FAILED: " + strings.TrimSpace(vout)
		if d.o.ci {
			return fmt.Errorf("reporter verify %s: %v\n%s", local, err, vout)
		}
	} else {
		d.pkgVerified = "verified"
	}
	fmt.Printf("   offline verification with reporter.pub: %s\n", d.pkgVerified)
	return nil
}

func (d *demo) s3() (*minio.Client, error) {
	return minio.New(d.env["PANGATE_S3_ENDPOINT"], &minio.Options{
		Creds:  credentials.NewStaticV4(d.env["PANGATE_S3_ACCESS_KEY"], d.env["PANGATE_S3_SECRET_KEY"], ""),
		Region: d.env["PANGATE_S3_REGION"],
	})
}

func (d *demo) ensureBucket(ctx context.Context, name string) error {
	mc, err := d.s3()
	if err != nil {
		return err
	}
	ok, err := mc.BucketExists(ctx, name)
	if err != nil {
		return fmt.Errorf("S3 %s: %w", d.env["PANGATE_S3_ENDPOINT"], err)
	}
	if !ok {
		return mc.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: d.env["PANGATE_S3_REGION"]})
	}
	return nil
}

// download copies every object under an s3://bucket/prefix/ location into dir.
func (d *demo) download(ctx context.Context, location, dir string) error {
	mc, err := d.s3()
	if err != nil {
		return err
	}
	bucketName, prefix, _ := strings.Cut(strings.TrimPrefix(location, "s3://"), "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	for obj := range mc.ListObjects(ctx, bucketName, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(obj.Key, prefix)))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := mc.FGetObject(ctx, bucketName, obj.Key, dst, minio.GetObjectOptions{}); err != nil {
			return fmt.Errorf("download %s: %w", obj.Key, err)
		}
	}
	return nil
}
