package reporter_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pangate/pangate/integration/stack"
	"github.com/pangate/pangate/internal/kafka"
	"github.com/pangate/pangate/reporter/bucket"
	"github.com/pangate/pangate/reporter/emit"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/reporter/schedule"
	"github.com/pangate/pangate/reporter/verify"
	"github.com/pangate/pangate/schemas"
)

// TestScheduledRunsStoreVersionsInS3 runs the daemon's scheduler (firing every second) against the stack's
// S3 server (versitygw): each run of the same day is stored as a new version, never over the previous one,
// the second chains to the first, both verify offline after download, and each run is recorded as a
// report.generated event on the operations topic.
func TestScheduledRunsStoreVersionsInS3(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	w := knownDay(en, false)
	en.seed(w.b.Events, w.b.Approvals)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	s3 := stack.S3(t)
	name := stack.UniqueName(t, "rep")
	locking := true
	if err := s3.MakeBucket(ctx, name, minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		locking = false
		if err := s3.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
			t.Fatalf("make bucket %s: %v", name, err)
		}
	}
	ep := stack.Env(t)
	store, err := bucket.NewS3(bucket.S3{Endpoint: ep.S3Endpoint, Bucket: name, AccessKey: ep.S3AccessKey, SecretKey: ep.S3SecretKey, Region: ep.S3Region})
	if err != nil {
		t.Fatal(err)
	}
	b := en.builder(store, day0.Add(30*time.Hour))
	topic := en.prefix + schemas.TopicOperations
	em, err := emit.New(kafka.Config{Brokers: ep.KafkaBrokers}, topic, schemas.Source{Instance: "reporter-test", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	b.Emitter = em

	runs := make(chan string, 4)
	sch, err := schedule.New(schedule.Config{Daily: "@every 1s", Now: func() time.Time { return day0.Add(25 * time.Hour) }},
		func(ctx context.Context, kind string, from, to time.Time) error {
			res, err := b.Build(ctx, kind, from, to)
			if err != nil {
				if ctx.Err() == nil { // runs cut short by the scheduler's stop are expected
					t.Errorf("scheduled %s run: %v", kind, err)
				}
				return err
			}
			select {
			case runs <- res.Location:
			default:
			}
			return nil
		}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sch.Run(sctx); close(done) }()
	var locs []string
	for len(locs) < 2 {
		select {
		case l := <-runs:
			locs = append(locs, l)
		case <-ctx.Done():
			t.Fatalf("scheduler stored %d packages before the deadline", len(locs))
		}
	}
	stop()
	<-done

	prefix := "packages/daily_review/2026-11-02_2026-11-03/"
	var manifests []string
	for obj := range s3.ListObjects(ctx, name, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		if path.Base(obj.Key) == manifest.FileName {
			manifests = append(manifests, obj.Key)
		}
	}
	sort.Strings(manifests)
	if len(manifests) < 2 || manifests[0] != prefix+"v1/manifest.json" || manifests[1] != prefix+"v2/manifest.json" {
		t.Fatalf("versions in the bucket: %v", manifests)
	}
	dirs := make([]string, 2)
	for i, l := range locs[:2] {
		dirs[i] = filepath.Join(t.TempDir(), "v")
		if err := store.Get(ctx, l, dirs[i]); err != nil {
			t.Fatal(err)
		}
	}
	r := verify.Package(dirs[1], en.pub, dirs[0])
	if !r.OK() {
		t.Fatalf("downloaded v2 does not verify chained to v1: %v", r.Err())
	}
	if r.Manifest.Storage.Kind != "s3" || r.Manifest.Storage.ObjectLock != locking && r.Manifest.Storage.Note == "" {
		t.Errorf("storage facts %+v (bucket created with object locking: %v)", r.Manifest.Storage, locking)
	}
	if !r.Manifest.Storage.ObjectLock && !strings.Contains(r.Manifest.Storage.Note, "Object Lock") {
		t.Errorf("no reason recorded for missing Object Lock: %+v", r.Manifest.Storage)
	}
	t.Logf("versitygw object lock: bucket created with locking=%v; manifest records %+v", locking, r.Manifest.Storage)
	if r.Manifest.File("review.html") == nil || r.Manifest.File("exceptions.csv") == nil {
		t.Errorf("daily review lacks review.html or exceptions.csv: %+v", r.Manifest.Files)
	}
	review, _ := os.ReadFile(filepath.Join(dirs[1], "review.html"))
	for _, want := range []string{"Reviewer sign-off", "auth_failed", "approval_denied", "human_session"} {
		if !strings.Contains(string(review), want) {
			t.Errorf("review.html lacks %q", want)
		}
	}
	scanForPAN(t, dirs[1])

	// Each run is on the operations topic as report.generated (PCI DSS 10.2.1.3).
	cl := stack.Kafka(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	for len(seen) < 2 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(rec *kgo.Record) {
			e, err := schemas.Parse(rec.Value)
			if err != nil || e.Type != schemas.TypeReportGenerated {
				return
			}
			var rg schemas.ReportGenerated
			if e.Decode(&rg) == nil && rg.Kind == manifest.KindDailyReview {
				seen[rg.Location] = true
			}
		})
	}
	for _, l := range locs[:2] {
		if !seen[l] {
			t.Errorf("no report.generated event for %s (saw %v)", l, seen)
		}
	}
}
