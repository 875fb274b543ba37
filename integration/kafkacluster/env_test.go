package kafkacluster_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/pangate/pangate/deploy/kafkaacl"
	"github.com/pangate/pangate/integration/stack"
)

// startCluster is the command that starts the profile.
const startCluster = "go tool task up:cluster"

// cluster is .stack/cluster.env, written by the profile's up.
type cluster struct {
	Brokers []string
	CAFile  string
	vals    map[string]string
}

// clusterEnv reads the profile's endpoints (PANGATE_CLUSTER_* in the environment win over the file) and
// fails the test, saying how to start the profile, when they are missing or a broker does not answer.
func clusterEnv(t testing.TB) *cluster {
	t.Helper()
	root, err := stack.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, ".stack", "cluster.env")
	vals := map[string]string{}
	if f, err := os.Open(file); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
				vals[k] = v
			}
		}
		f.Close()
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "PANGATE_CLUSTER_") && v != "" {
			vals[k] = v
		}
	}
	c := &cluster{CAFile: vals["PANGATE_CLUSTER_KAFKA_CA_FILE"], vals: vals}
	for _, b := range strings.Split(vals["PANGATE_CLUSTER_KAFKA_BROKERS"], ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	if len(c.Brokers) == 0 || c.CAFile == "" {
		t.Fatalf("the Kafka cluster profile's endpoints are not in the environment nor in %s; start it with: %s", file, startCluster)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	md, err := kadm.NewClient(c.client(t, kafkaacl.Admin)).BrokerMetadata(ctx)
	if err != nil || len(md.Brokers) < 3 {
		t.Fatalf("the Kafka cluster profile at %v does not answer with three brokers (%v, %d brokers); start it with: %s", c.Brokers, err, len(md.Brokers), startCluster)
	}
	return c
}

// key is the cluster.env name part of a principal: pangate-gateway -> GATEWAY.
func key(user string) string { return strings.ToUpper(strings.TrimPrefix(user, "pangate-")) }

// passwordFile is the file holding user's password.
func (c *cluster) passwordFile(t testing.TB, user string) string {
	t.Helper()
	f := c.vals["PANGATE_CLUSTER_KAFKA_"+key(user)+"_PASSWORD_FILE"]
	if f == "" {
		t.Fatalf("cluster.env names no password file for %s; restart the profile with: %s", user, startCluster)
	}
	return f
}

func (c *cluster) password(t testing.TB, user string) string {
	t.Helper()
	b, err := os.ReadFile(c.passwordFile(t, user))
	if err != nil {
		t.Fatalf("password of %s: %v", user, err)
	}
	return strings.TrimSpace(string(b))
}

func (c *cluster) tlsConfig(t testing.TB) *tls.Config {
	t.Helper()
	b, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatalf("the profile's CA %s: %v; start it with: %s", c.CAFile, err, startCluster)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", c.CAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// client connects over TLS as user with SCRAM-SHA-512 (user "" : TLS and no SASL).
func (c *cluster) client(t testing.TB, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.DialTLSConfig(c.tlsConfig(t))}
	if user != "" {
		base = append(base, kgo.SASL(scram.Auth{User: user, Pass: c.password(t, user)}.AsSha512Mechanism()))
	}
	return c.clientWith(t, append(base, opts...)...)
}

func (c *cluster) clientWith(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}
