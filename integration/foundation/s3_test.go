package foundation

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/pangate/pangate/integration/stack"
)

// TestS3PutGet creates a bucket, puts an object, reads it back and lists it,
// then checks that a client with a wrong secret is refused.
func TestS3PutGet(t *testing.T) {
	cl := stack.S3(t)
	env := stack.Env(t)
	bucket := stack.UniqueName(t, "evidence")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: env.S3Region}); err != nil {
		t.Fatalf("make bucket %s: %v", bucket, err)
	}
	const key = "2026/11/package.tar.gz"
	body := bytes.Repeat([]byte("pangate evidence\n"), 4096)
	t.Cleanup(func() {
		_ = cl.RemoveObject(context.Background(), bucket, key, minio.RemoveObjectOptions{})
		_ = cl.RemoveBucket(context.Background(), bucket)
	})

	if _, err := cl.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "application/gzip"}); err != nil {
		t.Fatalf("put object: %v", err)
	}
	obj, err := cl.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get object: %v", err)
	}
	got, err := io.ReadAll(obj)
	obj.Close()
	if err != nil {
		t.Fatalf("read object: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("object read back has %d bytes, differs from the %d put", len(got), len(body))
	}
	var listed []string
	for o := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list: %v", o.Err)
		}
		listed = append(listed, o.Key)
	}
	if len(listed) != 1 || listed[0] != key {
		t.Errorf("listed %v, want [%s]", listed, key)
	}

	bad, err := minio.New(env.S3Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(env.S3AccessKey, env.S3SecretKey+"x", ""), Region: env.S3Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.StatObject(ctx, bucket, key, minio.StatObjectOptions{}); err == nil {
		t.Error("a client with a wrong secret read the object's metadata")
	}
}
