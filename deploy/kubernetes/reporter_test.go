package kubernetes

import (
	"strconv"
	"strings"
	"testing"

	reporterconfig "github.com/pangate/pangate/reporter/config"
	"github.com/pangate/pangate/reporter/manifest"
	"github.com/pangate/pangate/schemas"
)

// reporterCommand is the reporter's command line (reporter/main.go):
//
//	reporter run -config FILE                                  (the daemon with its cron schedule)
//	reporter generate -config FILE -from T [-to T] [-kind K] [-out DIR]
//	reporter generate -config FILE -period previous-day|previous-month [-kind K] [-out DIR]
var reporterCommand = command{
	subcommands: []string{"run", "generate"},
	flags:       map[string]bool{"config": true, "from": true, "to": true, "kind": true, "out": true, "period": true},
}

func loadReporter(t *testing.T, p *pod) loaded {
	_, path := p.configFile(t)
	// reporter/main.go generate and run: config.Load(path) (file, then os.LookupEnv, then Validate), then setup loads the
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
	if c.Kafka.OperationsTopic() != schemas.TopicOperations {
		t.Errorf("reporter writes to %q, want %q (kafka.topic_prefix as the gateway's)", c.Kafka.OperationsTopic(), schemas.TopicOperations)
	}
	return loaded{brokers: c.Kafka.Brokers, topics: []string{c.Kafka.OperationsTopic()}, clickhouse: []string{c.ClickHouse.Addr}, database: c.ClickHouse.Database, kafka: c.Kafka.Config}
}

// TestReporterCronJobs: the reporter runs as exactly two CronJobs, the daily review of the previous UTC day
// and the package of the previous UTC month, each with Forbid (two runs of one report would race to chain
// and store the same package), in UTC, with every retry ending the day it started (a retry on the next day
// would compute the next period), and no reporter Deployment besides them (a `reporter run` daemon would
// make every report twice).
func TestReporterCronJobs(t *testing.T) {
	m := loadManifests(t)
	want := map[string]struct{ schedule, period string }{
		manifest.KindDailyReview: {"15 0 * * *", "previous-day"},
		manifest.KindPackage:     {"30 1 1 * *", "previous-month"},
	}
	seen := map[string]bool{}
	for _, w := range m.workloads() {
		o := w.Owner
		if o.Metadata.Labels["app.kubernetes.io/name"] != "reporter" {
			continue
		}
		if o.Kind != "CronJob" {
			t.Errorf("%v: the reporter runs as CronJobs only (docs/deploy.md: `reporter run` is the alternative, not an addition)", o)
			continue
		}
		if len(w.Pod.Spec.Containers) != 1 {
			continue // TestWorkloads reports it
		}
		args := w.Pod.Spec.Containers[0].Args
		kind, period := flagValue(args, "kind"), flagValue(args, "period")
		wk, ok := want[kind]
		switch {
		case len(args) == 0 || args[0] != "generate":
			t.Errorf("%v: args %q, want generate", o, args)
		case !ok:
			t.Errorf("%v: -kind %q, want one of %v", o, kind, keys(want))
		case seen[kind]:
			t.Errorf("%v: a second CronJob for -kind %s", o, kind)
		default:
			seen[kind] = true
			if period != wk.period || flagValue(args, "from") != "" || flagValue(args, "to") != "" {
				t.Errorf("%v: -kind %s covers -period %q (-from %q -to %q), want -period %s", o, kind, period, flagValue(args, "from"), flagValue(args, "to"), wk.period)
			}
			if o.Spec.Schedule != wk.schedule {
				t.Errorf("%v: schedule %q, want %q", o, o.Spec.Schedule, wk.schedule)
			}
		}
		if o.Spec.TimeZone != "Etc/UTC" {
			t.Errorf("%v: timeZone %q, want Etc/UTC: the schedule is in UTC like the period", o, o.Spec.TimeZone)
		}
		// Schedules fire at 00:15 and 01:30 UTC; every attempt must start and end before the UTC day ends.
		hm := strings.Fields(o.Spec.Schedule)
		if len(hm) == 5 {
			mins, _ := strconv.Atoi(hm[0])
			hours, _ := strconv.Atoi(hm[1])
			start := hours*3600 + mins*60
			if d := o.Spec.StartingDeadlineSeconds; d == nil || *d <= 0 || start+*d >= 86400 {
				t.Errorf("%v: startingDeadlineSeconds %s: set it so a late start is still the same UTC day", o, intOrUnset(d))
			}
			if d := o.Spec.JobTemplate.Spec.ActiveDeadlineSeconds; d == nil || *d <= 0 || start+*d >= 86400 {
				t.Errorf("%v: jobTemplate activeDeadlineSeconds %s: set it so no retry runs on the next UTC day", o, intOrUnset(d))
			}
		}
		if b := o.Spec.JobTemplate.Spec.BackoffLimit; b == nil || *b < 1 {
			t.Errorf("%v: backoffLimit %s: retry a failed run at least once", o, intOrUnset(b))
		}
		if h := o.Spec.SuccessfulJobsHistoryLimit; h == nil || *h < 1 {
			t.Errorf("%v: successfulJobsHistoryLimit %s: keep the last runs' logs", o, intOrUnset(h))
		}
		if h := o.Spec.FailedJobsHistoryLimit; h == nil || *h < 1 {
			t.Errorf("%v: failedJobsHistoryLimit %s: keep failed runs' logs", o, intOrUnset(h))
		}
	}
	for kind := range want {
		if !seen[kind] {
			t.Errorf("no reporter CronJob makes -kind %s", kind)
		}
	}
}

func intOrUnset(p *int) string {
	if p == nil {
		return "unset"
	}
	return strconv.Itoa(*p)
}
