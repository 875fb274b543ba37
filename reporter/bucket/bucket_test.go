package bucket

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocalVersionsNeverOverwrite(t *testing.T) {
	ctx := context.Background()
	l := NewLocal(t.TempDir())
	period := PeriodName(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	if period != "2026-10-01_2026-11-01" {
		t.Fatalf("period name %q", period)
	}
	var locs []string
	for i := 0; i < 3; i++ {
		st, err := l.Prepare(ctx, "package", period)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(st.Location, "manifest.json"), []byte{byte('a' + i)}, 0o644); err != nil {
			t.Fatal(err)
		}
		locs = append(locs, st.Location)
	}
	for i, want := range []string{"v1", "v2", "v3"} {
		if !strings.HasSuffix(locs[i], want) {
			t.Fatalf("run %d stored at %s, want …/%s", i, locs[i], want)
		}
	}
	b, loc, err := l.Latest(ctx, "package")
	if err != nil || loc != locs[2] || string(b) != "c" {
		t.Fatalf("latest = %q at %s (%v), want c at %s", b, loc, err, locs[2])
	}
	if b, loc, err := l.Latest(ctx, "daily_review"); b != nil || loc != "" || err != nil {
		t.Fatalf("latest of an empty kind: %q %q %v", b, loc, err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{}, {S3: S3{Bucket: "b"}}, {S3: S3{Bucket: "b", Endpoint: "h:1"}}, {S3: S3{Bucket: "b", Endpoint: "h:1", AccessKey: "a", SecretKey: "s", LockMode: "soft"}}} {
		if err := c.Validate(); err == nil {
			t.Fatalf("config %+v validated", c)
		}
	}
	if err := (Config{Dir: "x"}).Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestLaterKey(t *testing.T) {
	a := "packages/package/2026-10-01_2026-11-01/v10/manifest.json"
	b := "packages/package/2026-10-01_2026-11-01/v9/manifest.json"
	if !laterKey(a, b) || laterKey(b, a) {
		t.Fatal("v10 must be later than v9")
	}
}
