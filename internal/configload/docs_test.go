package configload_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	approverconfig "github.com/pangate/pangate/approver/config"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	indexerconfig "github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/internal/configload"
	reporterconfig "github.com/pangate/pangate/reporter/config"
)

// TestDocumentedVariablesExist: every PANGATE_<SERVICE>_… variable that the docs, the README and the
// Kubernetes manifests name is one the service's loader accepts (a setting's YAML path, an accepted older
// name, or one the service reads itself), so a documented variable never fails the start as "names no
// setting" and a renamed setting cannot leave stale documentation behind.
func TestDocumentedVariablesExist(t *testing.T) {
	accepted := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			accepted[n] = true
		}
	}
	add(configload.Vars(&gatewayconfig.Config{}, gatewayconfig.EnvPrefix)...)
	add(configload.Vars(&approverconfig.Config{}, approverconfig.EnvPrefix)...)
	add(approverconfig.EnvPrefix + "CONFIG")
	add(indexerconfig.Env...)
	add(reporterconfig.Env...)

	var files []string
	for _, glob := range []string{"docs/*.md", "README.md", "deploy/kubernetes/*.yaml", "deploy/gateway/*.yaml"} {
		m, err := filepath.Glob(filepath.Join("..", "..", glob))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 5 {
		t.Fatalf("found only %v: is the test run from internal/configload?", files)
	}
	re := regexp.MustCompile(`PANGATE_(GATEWAY|APPROVER|INDEXER|REPORTER)_[A-Z0-9_]*[A-Z0-9]\b`)
	var bad []string
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range re.FindAllString(string(b), -1) {
			seen++
			if !accepted[name] {
				bad = append(bad, filepath.Base(f)+": "+name)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no PANGATE_<SERVICE>_ variable found in the docs: the pattern is wrong")
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("documented variable names no setting: %s", b)
	}
}
