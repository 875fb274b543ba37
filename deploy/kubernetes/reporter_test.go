package kubernetes

import (
	"testing"

	reporterconfig "github.com/pangate/pangate/reporter/config"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/schemas"
)

// reporterCommand is the reporter's command line (reporter/main.go):
//
//	reporter run -config FILE                                  (the daemon with its cron schedule)
//	reporter generate -config FILE -from T [-to T] [-kind K] [-out DIR]
var reporterCommand = command{
	subcommands: []string{"run", "generate"},
	flags:       map[string]bool{"config": true, "from": true, "to": true, "kind": true, "out": true},
}

func loadReporter(t *testing.T, p *pod) loaded {
	_, path := p.configFile(t)
	// reporter/main.go run: config.Load(path) (file, then os.LookupEnv, then Validate), then setup loads the
	// signing key, every gateway key and opens the bucket.
	p.setenv(t)
	c, err := reporterconfig.Load(path)
	if err != nil {
		t.Fatalf("reporter config.Load: %v", err)
	}
	if c.SigningKey == "" {
		t.Fatal("reporter signing_key is empty: run and generate refuse to start")
	}
	key, err := manifest.LoadPrivateKey(c.SigningKey)
	if err != nil {
		t.Errorf("reporter signing_key: %v", err)
	} else if !key.Equal(secretKey("pangate-reporter-signing-key")) {
		t.Error("reporter signing_key is not the key of Secret pangate-reporter-signing-key")
	}
	if len(c.GatewayKeys) == 0 {
		t.Error("reporter gateway_keys is empty: checkpoints could not be verified")
	}
	for _, gk := range c.GatewayKeys {
		pub, err := manifest.LoadPublicKey(gk)
		if err != nil {
			t.Errorf("reporter gateway_keys: %v", err)
		} else if !pub.Equal(secretKey("pangate-gateway-checkpoint-key").Public()) {
			t.Errorf("reporter gateway key %s is not the public half of the gateways' checkpoint key", gk)
		}
	}
	if c.Bucket.S3.Bucket == "" || c.Bucket.S3.AccessKey == "" || c.Bucket.S3.SecretKey == "" || !c.Bucket.S3.Secure {
		t.Error("reporter: packages go to an S3 bucket over TLS, with keys from the Secret")
	}
	if c.ClickHouse.Password == "" || c.ClickHouse.User != "reporter" {
		t.Error("reporter: ClickHouse as the read-only user reporter, password from the Secret")
	}
	if c.Instance != p.Name {
		t.Errorf("reporter instance %q, want the pod name %q", c.Instance, p.Name)
	}
	if len(c.Kafka.Brokers) == 0 {
		t.Error("reporter kafka.brokers is empty: its runs would not be recorded as report.generated (PCI DSS 10.2.1.3)")
	}
	if c.Schedule.Daily == "" || c.Schedule.Monthly == "" {
		t.Error("reporter: both the daily review and the monthly package must be scheduled")
	}
	if c.Kafka.Topic != schemas.TopicAudit {
		t.Errorf("reporter kafka.topic %q, want %q", c.Kafka.Topic, schemas.TopicAudit)
	}
	return loaded{brokers: c.Kafka.Brokers, topics: []string{c.Kafka.Topic}, clickhouse: []string{c.ClickHouse.Addr}, database: c.ClickHouse.Database}
}

// TestReporterSingleton: one reporter at a time, also during a rollout (two runs of one report would race
// to store the same package).
func TestReporterSingleton(t *testing.T) {
	m := loadManifests(t)
	d, ok := m.find("Deployment", namespace, "reporter")
	if !ok {
		t.Fatal("no reporter Deployment")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != "Recreate" {
		t.Errorf("%v: want replicas 1 and strategy Recreate, got %v and %q", d, d.Spec.Replicas, d.Spec.Strategy.Type)
	}
}
