package main

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"text/template"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafka is an Apache Kafka 4.4 broker+controller (KRaft) from the Maven
// Central jars, on the machine's Java 17.
type kafka struct{}

const kafkaVersion = "4.4.0"

var (
	//go:embed kafka/server.properties
	kafkaServerProperties string
	//go:embed kafka/log4j2.properties
	kafkaLog4j string
)

func (*kafka) name() string     { return "kafka" }
func (*kafka) endpoint() string { return fmt.Sprintf("%s:%d", host, kafkaPort) }

func (*kafka) libDir(s *stack) string { return s.path("kafka", "lib") }

// installed checks the marker written after a complete copy, so an
// interrupted copy is redone.
func (k *kafka) installed(s *stack) bool {
	return fileExists(filepath.Join(k.libDir(s), ".complete-"+kafkaVersion))
}

func (k *kafka) install(ctx context.Context, s *stack) error {
	if _, err := exec.LookPath("java"); err != nil {
		return errors.New("kafka: java is not on PATH; install Java 17 (apt-get install -y openjdk-17-jre-headless)")
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		return errors.New("kafka: mvn is not on PATH; install Maven (apt-get install -y maven)")
	}
	lib := k.libDir(s)
	_ = os.RemoveAll(lib)
	if err := os.MkdirAll(lib, 0o755); err != nil {
		return err
	}
	pom := filepath.Join(s.root, "deploy", "local", "kafka", "pom.xml")
	if err := s.run(ctx, "kafka-install", nil, "mvn", "-B", "-q", "-f", pom,
		"dependency:copy-dependencies", "-DoutputDirectory="+lib, "-DincludeScope=runtime"); err != nil {
		return fmt.Errorf("kafka: fetching jars from Maven Central: %w", err)
	}
	if !fileExists(filepath.Join(lib, "kafka_2.13-"+kafkaVersion+".jar")) {
		return fmt.Errorf("kafka: kafka_2.13-%s.jar missing from %s after mvn", kafkaVersion, lib)
	}
	return os.WriteFile(filepath.Join(lib, ".complete-"+kafkaVersion), nil, 0o644)
}

func (k *kafka) confFile(s *stack) string { return s.path("kafka", "server.properties") }

func (k *kafka) start(ctx context.Context, s *stack) error {
	if pid, ok := s.ownPid("kafka", k.confFile(s)); ok {
		// Alive but not answering yet (still starting): wait rather than start twice.
		s.logf("kafka process %d is alive; waiting for it", pid)
		return nil
	}
	data := s.path("kafka", "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	var conf bytes.Buffer
	err := template.Must(template.New("server.properties").Parse(kafkaServerProperties)).Execute(&conf, map[string]any{
		"Host": host, "Port": kafkaPort, "ControllerPort": kafkaControllerPort, "DataDir": data,
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(k.confFile(s), conf.Bytes(), 0o644); err != nil {
		return err
	}
	log4j := s.path("kafka", "log4j2.properties")
	if err := os.WriteFile(log4j, []byte(kafkaLog4j), 0o644); err != nil {
		return err
	}
	classpath := k.libDir(s) + "/*"
	jvm := []string{"java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
		"-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + log4j, "-cp", classpath}
	if !fileExists(filepath.Join(data, "meta.properties")) {
		clusterID, err := newClusterID(rand.Reader)
		if err != nil {
			return err
		}
		if err := s.run(ctx, "kafka", nil, append(jvm, formatArgs(clusterID, k.confFile(s))...)...); err != nil {
			return fmt.Errorf("kafka: format storage: %w", err)
		}
	}
	return s.spawn("kafka", nil, append(jvm, "kafka.Kafka", k.confFile(s))...)
}

// newClusterID returns a KRaft cluster id: base64url of 16 random bytes, as
// Kafka's own Uuid.randomUuid makes them. Like Kafka, it never returns an id
// that starts with '-' (one in 64 random ids would): argument parsers read such
// a value as an option. Clearing the top bit of the first byte keeps the first
// character in A–f.
func newClusterID(r io.Reader) (string, error) {
	var id [16]byte
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return "", fmt.Errorf("kafka: cluster id: %w", err)
	}
	id[0] &= 0x7f
	return base64.RawURLEncoding.EncodeToString(id[:]), nil
}

// formatArgs is the StorageTool command line. The id travels as
// --cluster-id=ID, one argument, so even an id that starts with '-' (a
// cluster formatted by something else) cannot be read as an option.
func formatArgs(clusterID, confFile string) []string {
	return []string{"kafka.tools.StorageTool", "format", "--ignore-formatted",
		"--cluster-id=" + clusterID, "--config", confFile}
}

func (k *kafka) stop(ctx context.Context, s *stack) error {
	// A controlled shutdown of one node takes a few seconds.
	return s.terminate(ctx, "kafka", k.confFile(s), 60*time.Second)
}

// ready asks for cluster metadata and requires the broker to have registered
// with the controller (a broker answers ApiVersions before that).
func (k *kafka) ready(ctx context.Context, s *stack) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.endpoint()), kgo.RequestRetries(0),
		kgo.DialTimeout(2*time.Second), kgo.RetryTimeout(3*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if len(resp.Brokers) == 0 || resp.ControllerID < 0 {
		return fmt.Errorf("broker answers but has not joined the cluster yet (brokers=%d controller=%d)", len(resp.Brokers), resp.ControllerID)
	}
	return nil
}
