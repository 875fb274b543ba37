package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// zooKeeper is one Apache ZooKeeper 3.9 server (standalone) from the Maven Central jars, on the machine's
// Java 17: the coordination service the replicated ClickHouse profile (chcluster.go) needs for
// ReplicatedMergeTree and ON CLUSTER DDL. ClickHouse 18.16 has no built-in Keeper.
type zooKeeper struct{}

const (
	zkVersion = "3.9.5"
	zkPort    = 12181
)

func (*zooKeeper) name() string     { return "zookeeper" }
func (*zooKeeper) endpoint() string { return fmt.Sprintf("%s:%d", host, zkPort) }

func (*zooKeeper) libDir(s *stack) string { return s.path("zookeeper", "lib") }

// installed checks the marker written after a complete copy, so an interrupted copy is redone.
func (z *zooKeeper) installed(s *stack) bool {
	return fileExists(filepath.Join(z.libDir(s), ".complete-"+zkVersion))
}

func (z *zooKeeper) install(ctx context.Context, s *stack) error {
	if _, err := exec.LookPath("java"); err != nil {
		return errors.New("zookeeper: java is not on PATH; install Java 17 (apt-get install -y openjdk-17-jre-headless)")
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		return errors.New("zookeeper: mvn is not on PATH; install Maven (apt-get install -y maven)")
	}
	lib := z.libDir(s)
	_ = os.RemoveAll(lib)
	if err := os.MkdirAll(lib, 0o755); err != nil {
		return err
	}
	pom := filepath.Join(s.root, "deploy", "local", "zookeeper", "pom.xml")
	if err := s.run(ctx, "zookeeper-install", nil, "mvn", "-B", "-q", "-f", pom,
		"dependency:copy-dependencies", "-DoutputDirectory="+lib, "-DincludeScope=runtime"); err != nil {
		return fmt.Errorf("zookeeper: fetching jars from Maven Central: %w", err)
	}
	if !fileExists(filepath.Join(lib, "zookeeper-"+zkVersion+".jar")) {
		return fmt.Errorf("zookeeper: zookeeper-%s.jar missing from %s after mvn", zkVersion, lib)
	}
	return os.WriteFile(filepath.Join(lib, ".complete-"+zkVersion), nil, 0o644)
}

func (z *zooKeeper) confFile(s *stack) string { return s.path("zookeeper", "zoo.cfg") }

func (z *zooKeeper) start(ctx context.Context, s *stack) error {
	if pid, ok := s.ownPid("zookeeper", z.confFile(s)); ok {
		s.logf("zookeeper process %d is alive; waiting for it", pid)
		return nil
	}
	data := s.path("zookeeper", "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	// srvr is the readiness probe; the admin server (an HTTP port of its own) is not needed.
	conf := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPort=%d\nclientPortAddress=%s\n"+
		"admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,mntr\nautopurge.snapRetainCount=3\nautopurge.purgeInterval=1\n",
		data, zkPort, host)
	if err := os.WriteFile(z.confFile(s), []byte(conf), 0o644); err != nil {
		return err
	}
	// One standalone node holds a few thousand znodes for four ClickHouse servers: a small heap is plenty.
	return s.spawn("zookeeper", nil, "java", "-Xms32m", "-Xmx128m", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
		"-Dzookeeper.jmx.log4j.disable=true", "-cp", z.libDir(s)+"/*",
		"org.apache.zookeeper.server.ZooKeeperServerMain", z.confFile(s))
}

func (z *zooKeeper) stop(ctx context.Context, s *stack) error {
	return s.terminate(ctx, "zookeeper", z.confFile(s), 30*time.Second)
}

// ready sends the four-letter word srvr and requires "Mode: standalone": a server that accepts
// connections but has not loaded its database answers "not currently serving requests".
func (z *zooKeeper) ready(ctx context.Context, s *stack) error { return zkReady(ctx, z.endpoint()) }

func zkReady(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("srvr")); err != nil {
		return err
	}
	sc := bufio.NewScanner(conn)
	var first string
	for sc.Scan() {
		line := sc.Text()
		if first == "" {
			first = line
		}
		if strings.HasPrefix(line, "Mode: ") {
			if mode := strings.TrimPrefix(line, "Mode: "); mode != "standalone" && mode != "leader" && mode != "follower" {
				return fmt.Errorf("zookeeper mode %q", mode)
			}
			return nil
		}
	}
	return fmt.Errorf("zookeeper answered srvr without a mode: %q", first)
}
