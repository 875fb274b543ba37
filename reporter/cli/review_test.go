package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pangate/pangate/reporter/manifest"
)

// TestReviewThenVerify is issue 15.7 through the commands: `reporter review` records a filled-in sign-off
// beside a daily review package, `reporter verify` then passes for the package and its review, and fails
// once the review is edited.
func TestReviewThenVerify(t *testing.T) {
	root := t.TempDir()
	keygen := func(name string) string {
		if err := Keygen([]string{"-out", filepath.Join(root, name)}, io.Discard); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(root, name)
	}
	rep, rev := keygen("reporter"), keygen("rita")
	key, err := manifest.LoadPrivateKey(rep + ".key")
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(root, "store", "packages", manifest.KindDailyReview, "2026-11-01_2026-11-02", "v1")
	w, err := manifest.NewWriter(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Add("review.html", []byte("<html>day</html>"), manifest.File{Description: "review"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Finish(&manifest.Manifest{Kind: manifest.KindDailyReview, Counts: map[string]int64{"exceptions": 2}}, key); err != nil {
		t.Fatal(err)
	}
	verifyArgs := []string{"-key", rep + ".pub", "-review-key", rev + ".pub", "-require-review", pkg}
	if err := Verify(context.Background(), verifyArgs, io.Discard); err == nil || !strings.Contains(err.Error(), "review_not_found") {
		t.Fatalf("unreviewed package with -require-review: %v", err)
	}
	if err := Review([]string{"-package", pkg, "-key", rev + ".key", "-reviewer", "Rita Reviewer <rita@acme.example>",
		"-decision", "followed_up", "-notes", "two blocked statements: the job's retries", "-ticket", "PAY-12"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := Verify(context.Background(), verifyArgs, io.Discard); err != nil {
		t.Fatalf("reviewed package: %v", err)
	}
	rf := filepath.Join(root, "store", "reviews", manifest.KindDailyReview, "000001.json")
	b, err := os.ReadFile(rf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rf, []byte(strings.Replace(string(b), "followed_up", "no_action", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Verify(context.Background(), verifyArgs, io.Discard); err == nil || !strings.Contains(err.Error(), "review_signature") {
		t.Fatalf("edited review: %v", err)
	}
}
