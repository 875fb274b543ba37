package bucket

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Lines as the servers write them: AWS's documented format (request URI, referrer and user agent quoted,
// key URL-encoded) and versitygw v1.8.0's --access-log (same fields, unquoted, long month names; copied
// from a run of integration/reporter's TestPackageDownloadsIn10213).
const (
	awsGet  = `79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be evidence [06/Feb/2027:00:00:38 +0000] 192.0.2.3 arn:aws:iam::123456789012:user/qsa 3E57427F3EXAMPLE REST.GET.OBJECT packages/package/2026-11-01_2026-12-01/v1/summary%20copy.html "GET /evidence/packages/package/2026-11-01_2026-12-01/v1/summary%20copy.html HTTP/1.1" 200 - 2662992 3462992 70 10 "-" "aws-cli/2.15 Python/3.11" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader evidence.s3.us-west-1.amazonaws.com TLSv1.2 - -`
	awsList = `79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be evidence [06/Feb/2027:00:01:00 +0000] 192.0.2.3 arn:aws:iam::123456789012:user/qsa 3E57427F3EXAMPLF REST.GET.BUCKET - "GET /evidence?list-type=2&prefix=packages%2F HTTP/1.1" 200 - 1024 - 7 - "-" "aws-cli/2.15" - - SigV4 - AuthHeader - - - -`
	vgwGet  = `- evidence [06/February/2027:10:11:12 +0000] 127.0.0.1 b7101d04c60c757d 17E0A9B1C2D3E4F5 s3_GetObject packages/package/2026-11-01_2026-12-01/v2/manifest.json /evidence/packages/package/2026-11-01_2026-12-01/v2/manifest.json?x-id=GetObject 403 AccessDenied 243 0 1 1 - MinIO (linux; amd64) minio-go/v7.0.95 - - SigV4 - AuthHeader s3.us-east-1.amazonaws.com - arn:aws:s3:::evidence/packages/package/2026-11-01_2026-12-01/v2/manifest.json Yes`
	vgwPut  = `- evidence [06/February/2027:10:11:13 +0000] 127.0.0.1 b7101d04c60c757d 17E0A9B1C2D3E4F6 s3_PutObject packages/package/2026-11-01_2026-12-01/v2/manifest.json /evidence/packages/package/2026-11-01_2026-12-01/v2/manifest.json 200 - 0 0 3 3 - MinIO - - SigV4 - AuthHeader s3.us-east-1.amazonaws.com - arn:aws:s3:::evidence Yes`
)

func TestParseAccessLogBothFormats(t *testing.T) {
	log := "log starts 2027-02-06 10:00:00\n" + awsGet + "\n" + awsList + "\n\n" + vgwGet + "\n" + vgwPut + "\n"
	var got []Download
	if err := collect(strings.NewReader(log), "", time.Date(2027, 2, 6, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 7, 0, 0, 0, 0, time.UTC), &got); err != nil {
		t.Fatal(err)
	}
	want := []Download{
		{Time: time.Date(2027, 2, 6, 0, 0, 38, 0, time.UTC), Requester: "arn:aws:iam::123456789012:user/qsa", RemoteIP: "192.0.2.3", Bucket: "evidence",
			Key: "packages/package/2026-11-01_2026-12-01/v1/summary copy.html", Package: "packages/package/2026-11-01_2026-12-01/v1/",
			Operation: "REST.GET.OBJECT", Status: 200, Bytes: 2662992, RequestID: "3E57427F3EXAMPLE", UserAgent: "aws-cli/2.15 Python/3.11"},
		{Time: time.Date(2027, 2, 6, 10, 11, 12, 0, time.UTC), Requester: "b7101d04c60c757d", RemoteIP: "127.0.0.1", Bucket: "evidence",
			Key: "packages/package/2026-11-01_2026-12-01/v2/manifest.json", Package: "packages/package/2026-11-01_2026-12-01/v2/",
			Operation: "s3_GetObject", Status: 403, ErrorCode: "AccessDenied", Bytes: 243, RequestID: "17E0A9B1C2D3E4F5", UserAgent: "MinIO"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d downloads, want %d (a GET of each format; the listing and the PUT are not downloads): %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("download %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	// The period and the bucket filter.
	got = nil
	if err := collect(strings.NewReader(log), "other", time.Time{}, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), &got); err != nil || len(got) != 0 {
		t.Fatalf("another bucket's log: %v %+v", err, got)
	}
	if err := collect(strings.NewReader(log), "", time.Date(2027, 2, 6, 1, 0, 0, 0, time.UTC), time.Date(2027, 2, 7, 0, 0, 0, 0, time.UTC), &got); err != nil || len(got) != 1 {
		t.Fatalf("a period excluding the AWS GET: %v %+v", err, got)
	}
}

func TestParseAccessLogNamesTheBadLine(t *testing.T) {
	err := ParseAccessLog(strings.NewReader(awsGet+"\nnot a log line\n"), func(AccessRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err %v, want the line number", err)
	}
}

func TestLocalDownloadsNeedsAConfiguredLog(t *testing.T) {
	ctx := context.Background()
	if _, _, err := NewLocal(t.TempDir()).Downloads(ctx, time.Time{}, time.Now()); err == nil || !strings.Contains(err.Error(), "bucket.access_logs.file") {
		t.Fatalf("no log configured: %v", err)
	}
	f := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(f, []byte(vgwGet+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ds, src, err := NewLocal(t.TempDir()).WithAccessLogs(AccessLogs{File: f}).Downloads(ctx, time.Time{}, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || len(ds) != 1 || src != "file://"+f {
		t.Fatalf("downloads %+v from %s: %v", ds, src, err)
	}
	if err := (Config{Dir: "x", AccessLogs: AccessLogs{Bucket: "logs"}}).Validate(); err == nil {
		t.Fatal("a log bucket with a local store validates")
	}
}

// FuzzParseAccessLog: any input either parses or is refused with an error; a parsed download keeps its
// key under the package prefix.
func FuzzParseAccessLog(f *testing.F) {
	for _, s := range []string{awsGet, awsList, vgwGet, vgwPut, "log starts x", `a b [x] "`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got []Download
		_ = collect(strings.NewReader(s), "", time.Time{}, time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), &got)
		for _, d := range got {
			if !strings.HasPrefix(d.Key, Prefix+"/") || !strings.HasPrefix(d.Key, d.Package) {
				t.Fatalf("download %+v", d)
			}
		}
	})
}
