package configload_test

import (
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"

	approverconfig "github.com/pangate/pangate/approver/config"
	gatewayconfig "github.com/pangate/pangate/gateway/config"
	indexerconfig "github.com/pangate/pangate/indexer/config"
	"github.com/pangate/pangate/internal/configload"
	"github.com/pangate/pangate/internal/kafka"
	reporterconfig "github.com/pangate/pangate/reporter/config"
)

// TestConfigsRoundTrip: each service's configuration type marshals to YAML that its strict loader reads
// back to the same document, Kafka block included (the integration launchers write configs this way), and the
// removed kafka.topic is not written.
func TestConfigsRoundTrip(t *testing.T) {
	k := kafka.Config{Brokers: []string{"k0:9092", "k1:9092"}, TopicPrefix: "t1-",
		TLS:  kafka.TLS{Enabled: true, CAFile: "/ca.pem", ServerName: "kafka"},
		SASL: kafka.SASL{Mechanism: "SCRAM-SHA-512", Username: "u", PasswordFile: "/pw"}}
	gw, err := gatewayconfig.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	gw.Kafka.Config = k
	ap := approverconfig.Config{Instance: "ap", Kafka: approverconfig.Kafka{Config: k}}
	ix := indexerconfig.Defaults()
	ix.Kafka.Config = k
	rp := reporterconfig.Defaults()
	rp.Kafka.Config = k
	for name, c := range map[string]any{"gateway": &gw, "approver": &ap, "indexer": &ix, "reporter": &rp} {
		t.Run(name, func(t *testing.T) {
			b, err := yaml.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			back := reflect.New(reflect.TypeOf(c).Elem())
			if err := configload.Decode(b, back.Interface()); err != nil {
				t.Fatalf("strict decode of its own marshalling: %v\n%s", err, b)
			}
			// Compared as YAML: an empty list may come back as empty rather than nil.
			b2, err := yaml.Marshal(back.Interface())
			if err != nil {
				t.Fatal(err)
			}
			if string(b2) != string(b) {
				t.Fatalf("round trip changed the config:\n%s\nread back as\n%s", b, b2)
			}
			var raw map[string]any
			if err := yaml.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			kb, _ := raw["kafka"].(map[string]any)
			if _, ok := kb["topic"]; ok || kb["topic_prefix"] != "t1-" {
				t.Fatalf("kafka block written as %v", kb)
			}
		})
	}
}
