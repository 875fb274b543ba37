package kubernetes

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDockerfile checks what the manifests rely on in the one Dockerfile every image is built from (no
// Docker here to build it): the service is chosen by --build-arg SERVICE, the binary is the entrypoint (the
// manifests give args only), and the runtime user is the uid every pod's runAsUser names, so mounted
// Secrets (mode 0440, fsGroup) are readable.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("images/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"ARG SERVICE", "./${SERVICE}", "CGO_ENABLED=1", "ENTRYPOINT ["} {
		if !strings.Contains(df, want) {
			t.Errorf("images/Dockerfile lacks %q", want)
		}
	}
	// The builder's Go is the one go.mod asks for (major.minor), so the image builds what CI tests.
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(string(gomod))
	argLine := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)\s*$`).FindStringSubmatch(df)
	if goLine == nil || argLine == nil || argLine[1] != goLine[1] {
		t.Errorf("images/Dockerfile ARG GO_VERSION %v, go.mod asks for go %v: keep them equal", argLine, goLine)
	}
	if _, err := os.Stat("images/Dockerfile.dockerignore"); err != nil {
		t.Errorf("images/Dockerfile.dockerignore: %v (the context would include .stack and .git)", err)
	}
	users := regexp.MustCompile(`(?m)^USER (\d+):(\d+)\s*$`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 {
		t.Fatal("images/Dockerfile sets no numeric USER uid:gid in the runtime stage")
	}
	uid, _ := strconv.Atoi(users[len(users)-1][1])
	m := loadManifests(t)
	for _, w := range m.workloads() {
		if u := w.Pod.Spec.SecurityContext.RunAsUser; u == nil || *u != uid {
			t.Errorf("%v: runAsUser %v, the image's USER is %d", w.Owner, u, uid)
		}
	}
}
