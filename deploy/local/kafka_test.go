package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

// TestClusterIDNeverStartsWithDash pins issue 20: one random id in 64 began
// with '-' and the storage tool read it as an option.
func TestClusterIDNeverStartsWithDash(t *testing.T) {
	for b := 0; b < 256; b++ {
		in := bytes.Repeat([]byte{byte(b)}, 16)
		id, err := newClusterID(bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if len(id) != 22 || strings.HasPrefix(id, "-") || strings.HasPrefix(id, "_") {
			t.Fatalf("first byte %#x: cluster id %q", b, id)
		}
	}
	if _, err := newClusterID(bytes.NewReader(make([]byte, 3))); err == nil {
		t.Fatal("a short random source gave an id")
	}
}

// TestStorageToolFormatsDashID runs Kafka's real storage tool with an id that
// starts with '-', as formatArgs passes it. It needs the broker's jars, which
// `go tool task up` installs.
func TestStorageToolFormatsDashID(t *testing.T) {
	s, err := newStack()
	if err != nil {
		t.Fatal(err)
	}
	k := &kafka{}
	if !k.installed(s) {
		t.Fatalf("Kafka jars are not in %s: start the stack with: go tool task up", k.libDir(s))
	}
	dir := t.TempDir()
	var conf bytes.Buffer
	err = template.Must(template.New("p").Parse(kafkaServerProperties)).Execute(&conf, map[string]any{
		"Host": host, "Port": 1, "ControllerPort": 2, "DataDir": filepath.Join(dir, "data"),
	})
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(confFile, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	const dashID = "-Wj8s4nXQ2uA0v9aKq3pLg"
	argv := append([]string{"java", "-Xmx128m", "-cp", k.libDir(s) + "/*"}, formatArgs(dashID, confFile)...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("storage tool refused cluster id %q: %v\n%s", dashID, err, out)
	}
	meta, err := os.ReadFile(filepath.Join(dir, "data", "meta.properties"))
	if err != nil {
		t.Fatalf("no meta.properties after format: %v\n%s", err, out)
	}
	if !strings.Contains(string(meta), "cluster.id="+dashID) {
		t.Fatalf("meta.properties does not record cluster id %q:\n%s", dashID, meta)
	}
}
