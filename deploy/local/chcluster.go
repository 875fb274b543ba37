package main

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// chCluster is the replicated ClickHouse profile: cluster "pangate" of two shards × two replicas, four
// ClickHouse 18.16 servers (the single node's Debian binary, run as user clickhouse) and one ZooKeeper
// (zookeeper.go), all on loopback ports of their own with state under .stack/chcluster and
// .stack/zookeeper. It is not part of the default stack: `go run ./deploy/local up chcluster` (go tool task
// up:chcluster) starts it, and the endpoints go to .stack/chcluster.env. up restarts only the servers that
// are down, so a fault test that killed one brings it back with the same command.
type chCluster struct{}

// chClusterName is the cluster name the cluster DDL (internal/auditstore/cluster) is written for.
const chClusterName = "pangate"

// chNode is one server of the profile.
type chNode struct {
	Shard, Replica  string // macros {shard} and {replica}
	NativePort      int
	HTTPPort        int
	InterserverPort int
}

// chClusterNodes: shard 01 on 19111/19112, shard 02 on 19113/19114 (native); HTTP 18111…, interserver 19121….
var chClusterNodes = func() []chNode {
	var out []chNode
	for i := 0; i < 4; i++ {
		out = append(out, chNode{
			Shard: fmt.Sprintf("%02d", i/2+1), Replica: fmt.Sprintf("s%dr%d", i/2+1, i%2+1),
			NativePort: 19111 + i, HTTPPort: 18111 + i, InterserverPort: 19121 + i,
		})
	}
	return out
}()

func (n chNode) addr() string     { return fmt.Sprintf("%s:%d", host, n.NativePort) }
func (n chNode) procName() string { return "chcluster-" + n.Replica }

var (
	//go:embed chcluster/config.xml
	chClusterConfigXML string
	//go:embed chcluster/users.xml
	chClusterUsersXML string
)

func init() {
	profileServices = append(profileServices, &chCluster{})
	// The login Distributed tables use between the nodes.
	secretNames = append(secretNames, "CH_CLUSTER_PASSWORD")
}

func (*chCluster) name() string { return "chcluster" }

func (*chCluster) endpoint() string {
	addrs := make([]string, len(chClusterNodes))
	for i, n := range chClusterNodes {
		addrs[i] = n.addr()
	}
	return strings.Join(addrs, ",")
}

func (*chCluster) installed(s *stack) bool {
	return chServerBinary() != "" && (&zooKeeper{}).installed(s)
}

func (*chCluster) install(ctx context.Context, s *stack) error {
	// Not an aptInstaller: the installer would run apt-get whenever the profile is not installed, also when
	// only ZooKeeper's jars are missing.
	if chServerBinary() == "" {
		if err := s.aptInstall(ctx, []string{"clickhouse-server", "clickhouse-client"}); err != nil {
			return err
		}
		if chServerBinary() == "" {
			return fmt.Errorf("chcluster: clickhouse-server missing after apt-get install clickhouse-server")
		}
	}
	zk := &zooKeeper{}
	if zk.installed(s) {
		return nil
	}
	return zk.install(ctx, s)
}

func (c *chCluster) confFile(s *stack, n chNode) string {
	return s.path("chcluster", n.Replica, "config.xml")
}

func (c *chCluster) start(ctx context.Context, s *stack) error {
	// ZooKeeper first: a server whose replicated tables find no ZooKeeper at start keeps them read-only.
	zk := &zooKeeper{}
	if err := probe(ctx, s, zk, 3*time.Second); err != nil {
		if err := zk.start(ctx, s); err != nil {
			return fmt.Errorf("start zookeeper: %w (log: %s)", err, s.logFile("zookeeper"))
		}
		if err := s.waitReady(ctx, zk, 2*time.Minute); err != nil {
			return err
		}
		s.logf("zookeeper ready at %s", zk.endpoint())
	}
	base, err := s.serviceDir(ctx, "chcluster", "clickhouse")
	if err != nil {
		return err
	}
	for _, n := range chClusterNodes {
		if err := c.probeNode(ctx, s, n, 2*time.Second, false); err == nil {
			continue
		}
		if pid, ok := s.ownPid(n.procName(), c.confFile(s, n)); ok {
			s.logf("%s process %d is alive; waiting for it", n.procName(), pid)
			continue
		}
		dir := filepath.Join(base, n.Replica)
		for _, d := range []string{"log", "data", "tmp", "user_files", "format_schemas"} {
			if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
				return err
			}
		}
		if err := c.render(s, n, dir, "config.xml", "users.xml"); err != nil {
			return err
		}
		if err := ownDir(dir, "clickhouse"); err != nil {
			return err
		}
		s.logf("starting %s (shard %s) at %s", n.procName(), n.Shard, n.addr())
		if err := s.spawn(n.procName(), nil, asUser("clickhouse", chServerBinary(), "--config-file="+filepath.Join(dir, "config.xml"))...); err != nil {
			return err
		}
	}
	return nil
}

// render writes the named templates into dir with the node's ports, paths, macros and password hashes.
func (c *chCluster) render(s *stack, n chNode, dir string, files ...string) error {
	sec := s.secrets
	fields := map[string]any{
		"Host": host, "Cluster": chClusterName, "NativePort": n.NativePort, "HTTPPort": n.HTTPPort,
		"InterserverPort": n.InterserverPort, "Shard": n.Shard, "Replica": n.Replica, "ZooKeeperPort": zkPort,
		"Shards": [][]chNode{chClusterNodes[0:2], chClusterNodes[2:4]}, "ClusterPassword": sec["CH_CLUSTER_PASSWORD"],
		"LogDir": filepath.Join(dir, "log"), "DataDir": filepath.Join(dir, "data"),
		"TmpDir": filepath.Join(dir, "tmp"), "UserFilesDir": filepath.Join(dir, "user_files"),
		"FormatSchemaDir": filepath.Join(dir, "format_schemas"), "UsersFile": filepath.Join(dir, "users.xml"),
		"OperatorHash": sha256Hex(sec["CH_OPERATOR_PASSWORD"]),
		"IndexerHash":  sha256Hex(sec["CH_INDEXER_PASSWORD"]),
		"AuditorHash":  sha256Hex(sec["CH_AUDITOR_PASSWORD"]),
		"ReporterHash": sha256Hex(sec["CH_REPORTER_PASSWORD"]),
		"ClusterHash":  sha256Hex(sec["CH_CLUSTER_PASSWORD"]),
		"DefaultHash":  sha256Hex(sec["CH_OPERATOR_PASSWORD"] + sec["S3_SECRET_KEY"]),
	}
	texts := map[string]string{"config.xml": chClusterConfigXML, "users.xml": chClusterUsersXML}
	for _, file := range files {
		var b bytes.Buffer
		if err := template.Must(template.New(file).Parse(texts[file])).Execute(&b, fields); err != nil {
			return err
		}
		// Write then rename, so the server's reloader never reads half a file.
		tmp := filepath.Join(dir, "."+file+".tmp")
		if err := os.WriteFile(tmp, b.Bytes(), 0o640); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, file)); err != nil {
			return err
		}
	}
	return nil
}

func (c *chCluster) stop(ctx context.Context, s *stack) error {
	var errs []error
	for _, n := range chClusterNodes {
		errs = append(errs, s.terminate(ctx, n.procName(), c.confFile(s, n), 60*time.Second))
	}
	errs = append(errs, (&zooKeeper{}).stop(ctx, s))
	return errors.Join(errs...)
}

func (c *chCluster) open(s *stack, n chNode, database string) (clickhouse.Conn, error) {
	return clickhouse.Open(&clickhouse.Options{
		Addr:        []string{n.addr()},
		Auth:        clickhouse.Auth{Database: database, Username: "operator", Password: s.secrets["CH_OPERATOR_PASSWORD"]},
		DialTimeout: 2 * time.Second,
		ReadTimeout: 10 * time.Second,
	})
}

// probeNode runs SELECT 1 on one server as the operator, and with zk also reads ZooKeeper's root through
// it: ON CLUSTER DDL right after a start can find a server without its ZooKeeper session yet.
func (c *chCluster) probeNode(ctx context.Context, s *stack, n chNode, timeout time.Duration, zk bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := c.open(s, n, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	var one uint8
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("%s at %s: %w", n.procName(), n.addr(), err)
	}
	if zk {
		var z uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/'").Scan(&z); err != nil {
			return fmt.Errorf("%s at %s has no ZooKeeper session: %w", n.procName(), n.addr(), err)
		}
	}
	return nil
}

// ready requires every server to answer and to have its ZooKeeper session.
func (c *chCluster) ready(ctx context.Context, s *stack) error {
	for _, n := range chClusterNodes {
		if err := c.probeNode(ctx, s, n, 3*time.Second, true); err != nil {
			return err
		}
	}
	return nil
}

func (c *chCluster) afterReady(ctx context.Context, s *stack) error {
	base, err := s.serviceDir(ctx, "chcluster", "clickhouse")
	if err != nil {
		return err
	}
	for _, n := range chClusterNodes {
		// users.xml is reread by the server within seconds: changed users apply without a restart.
		dir := filepath.Join(base, n.Replica)
		if err := c.render(s, n, dir, "users.xml"); err != nil {
			return err
		}
		// Only the file: walking a running server's data directory races with its merges removing parts.
		if err := chownTo(filepath.Join(dir, "users.xml"), "clickhouse"); err != nil {
			return err
		}
		conn, err := c.open(s, n, "default")
		if err != nil {
			return err
		}
		// The restricted users may use only pangate and pangate_ingest: create pangate so they can log in
		// before the indexer's first migration (which creates it ON CLUSTER too).
		err = conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+chDatabase)
		if err == nil {
			err = (&clickHouse{}).queryLogAccess(ctx, s, conn)
		}
		conn.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n.procName(), err)
		}
	}
	return writeKV(s.path("chcluster.env"), c.env(s), 0o600)
}

// env is .stack/chcluster.env: the cluster's addresses and name, its ZooKeeper, the logins (the single
// node's passwords) and each server's pid file (fault tests kill one and bring it back with up).
func (c *chCluster) env(s *stack) map[string]string {
	sec := s.secrets
	out := map[string]string{
		"PANGATE_CHCLUSTER_ADDRS":             c.endpoint(),
		"PANGATE_CHCLUSTER_NAME":              chClusterName,
		"PANGATE_CHCLUSTER_DATABASE":          chDatabase,
		"PANGATE_CHCLUSTER_ZOOKEEPER":         (&zooKeeper{}).endpoint(),
		"PANGATE_CHCLUSTER_USER":              "operator",
		"PANGATE_CHCLUSTER_PASSWORD":          sec["CH_OPERATOR_PASSWORD"],
		"PANGATE_CHCLUSTER_INDEXER_PASSWORD":  sec["CH_INDEXER_PASSWORD"],
		"PANGATE_CHCLUSTER_AUDITOR_PASSWORD":  sec["CH_AUDITOR_PASSWORD"],
		"PANGATE_CHCLUSTER_REPORTER_PASSWORD": sec["CH_REPORTER_PASSWORD"],
	}
	for _, n := range chClusterNodes {
		key := "PANGATE_CHCLUSTER_" + strings.ToUpper(n.Replica)
		out[key+"_ADDR"] = n.addr()
		out[key+"_SHARD"] = n.Shard
		out[key+"_PID_FILE"] = s.pidFile(n.procName())
		out[key+"_CONFIG"] = c.confFile(s, n)
	}
	return out
}
