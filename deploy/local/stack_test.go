package main

import (
	"bytes"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

func TestSelectServices(t *testing.T) {
	all, err := selectServices(nil)
	if err != nil || len(all) != 4 {
		t.Fatalf("selectServices(nil) = %d services, %v; want all 4", len(all), err)
	}
	one, err := selectServices([]string{"kafka"})
	if err != nil || len(one) != 1 || one[0].name() != "kafka" {
		t.Fatalf("selectServices(kafka) = %v, %v", one, err)
	}
	if _, err := selectServices([]string{"zookeeper"}); err == nil {
		t.Fatal("an unknown service was accepted")
	}
}

func TestKVRoundTrip(t *testing.T) {
	file := filepath.Join(t.TempDir(), "env")
	want := map[string]string{"A": "1", "PANGATE_PG_ADMIN_DSN": "postgres://u:p@127.0.0.1:1/db?sslmode=disable"}
	if err := writeKV(file, want, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readKV(file)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestTemplatesRender catches a broken config template here rather than as a
// server that does not start.
func TestTemplatesRender(t *testing.T) {
	fields := map[string]any{
		"Host": host, "NativePort": chNativePort, "HTTPPort": chHTTPPort, "InterserverPort": chInterserverPort,
		"LogDir": "/x/log", "DataDir": "/x/data", "TmpDir": "/x/tmp", "UserFilesDir": "/x/uf",
		"FormatSchemaDir": "/x/fs", "UsersFile": "/x/users.xml",
		"OperatorHash": sha256Hex("a"), "IndexerHash": sha256Hex("b"), "AuditorHash": sha256Hex("c"),
		"ReporterHash": sha256Hex("d"), "DefaultHash": sha256Hex("e"),
		"Port": kafkaPort, "ControllerPort": kafkaControllerPort,
	}
	for name, text := range map[string]string{"config.xml": chConfigXML, "users.xml": chUsersXML} {
		var b bytes.Buffer
		if err := template.Must(template.New(name).Option("missingkey=error").Parse(text)).Execute(&b, fields); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		d := xml.NewDecoder(&b)
		for {
			_, err := d.Token()
			if err != nil {
				if err.Error() != "EOF" {
					t.Fatalf("%s does not render to well-formed XML: %v", name, err)
				}
				break
			}
		}
	}
	var b bytes.Buffer
	if err := template.Must(template.New("kafka").Option("missingkey=error").Parse(kafkaServerProperties)).Execute(&b, fields); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093", "transaction.state.log.min.isr=1", "offsets.topic.replication.factor=1"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("server.properties lacks %q", want)
		}
	}
}
