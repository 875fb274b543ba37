package main

import (
	"context"
	"encoding/xml"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChClusterConfigs renders every server's config.xml and users.xml of the replicated profile and checks
// what replication depends on: each server has its own ports, paths and {replica} macro, the shards'
// macros match their place in remote_servers, every server lists the same cluster of every server, and the
// indexer's and readers' profiles carry insert_distributed_sync and distributed_product_mode.
func TestChClusterConfigs(t *testing.T) {
	s := &stack{dir: t.TempDir(), secrets: map[string]string{"CH_OPERATOR_PASSWORD": "op", "CH_CLUSTER_PASSWORD": "cl"}}
	c := &chCluster{}
	type conf struct {
		TCPPort  int    `xml:"tcp_port"`
		HTTPPort int    `xml:"http_port"`
		Inter    int    `xml:"interserver_http_port"`
		Path     string `xml:"path"`
		Shard    string `xml:"macros>shard"`
		Replica  string `xml:"macros>replica"`
		ZK       []int  `xml:"zookeeper>node>port"`
		Shards   []struct {
			Internal bool  `xml:"internal_replication"`
			Ports    []int `xml:"replica>port"`
		} `xml:"remote_servers>pangate>shard"`
	}
	seen := map[any]string{}
	taken := map[int]bool{chNativePort: true, chHTTPPort: true, chInterserverPort: true, pgPort: true, kafkaPort: true, kafkaControllerPort: true, s3Port: true, zkPort: true}
	for _, n := range chClusterNodes {
		dir := filepath.Join(s.dir, n.Replica)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := c.render(s, n, dir, "config.xml", "users.xml"); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "config.xml"))
		if err != nil {
			t.Fatal(err)
		}
		var got conf
		if err := xml.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s config.xml: %v", n.Replica, err)
		}
		for _, v := range []any{got.TCPPort, got.HTTPPort, got.Inter, got.Path, got.Replica} {
			if other, dup := seen[v]; dup {
				t.Errorf("%s and %s share %v", n.Replica, other, v)
			}
			seen[v] = n.Replica
		}
		for _, p := range []int{got.TCPPort, got.HTTPPort, got.Inter} {
			if taken[p] {
				t.Errorf("%s: port %d is the single-node stack's or ZooKeeper's", n.Replica, p)
			}
		}
		if got.TCPPort != n.NativePort || got.Shard != n.Shard || got.Replica != n.Replica || len(got.ZK) != 1 || got.ZK[0] != zkPort {
			t.Errorf("%s: port %d shard %q replica %q zookeeper %v", n.Replica, got.TCPPort, got.Shard, got.Replica, got.ZK)
		}
		if len(got.Shards) != 2 {
			t.Fatalf("%s: %d shards in remote_servers, want 2", n.Replica, len(got.Shards))
		}
		for i, sh := range got.Shards {
			if !sh.Internal || len(sh.Ports) != 2 {
				t.Errorf("%s: shard %d internal_replication %v, replicas %v", n.Replica, i+1, sh.Internal, sh.Ports)
			}
			for _, p := range sh.Ports {
				for _, m := range chClusterNodes {
					if m.NativePort == p && m.Shard != chClusterNodes[2*i].Shard {
						t.Errorf("%s: remote_servers shard %d lists %s, whose macro says shard %s", n.Replica, i+1, m.Replica, m.Shard)
					}
				}
			}
		}
		u, err := os.ReadFile(filepath.Join(dir, "users.xml"))
		if err != nil {
			t.Fatal(err)
		}
		var users struct {
			Indexer  string `xml:"profiles>indexer>insert_distributed_sync"`
			Operator string `xml:"profiles>default>insert_distributed_sync"`
			Readonly string `xml:"profiles>readonly>distributed_product_mode"`
			Cluster  string `xml:"users>cluster>password_sha256_hex"`
		}
		if err := xml.Unmarshal(u, &users); err != nil {
			t.Fatalf("%s users.xml: %v", n.Replica, err)
		}
		if users.Indexer != "1" || users.Operator != "1" || users.Readonly != "global" || users.Cluster != sha256Hex("cl") {
			t.Errorf("%s users.xml: %+v", n.Replica, users)
		}
		if strings.Contains(string(b)+string(u), "<no value>") {
			t.Errorf("%s: a template field is missing", n.Replica)
		}
	}
}

// TestZooKeeperReady: a server that accepts connections but does not serve yet is not ready; one that
// reports a mode is.
func TestZooKeeperReady(t *testing.T) {
	for _, tc := range []struct {
		answer string
		ok     bool
	}{
		{"Zookeeper version: 3.9.5\nLatency min/avg/max: 0/0.0/0\nMode: standalone\nNode count: 5\n", true},
		{"Zookeeper version: 3.9.5\nMode: follower\n", true},
		{"This ZooKeeper instance is not currently serving requests\n", false},
		{"", false},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 4)
			_, _ = conn.Read(buf)
			if string(buf) == "srvr" {
				_, _ = conn.Write([]byte(tc.answer))
			}
			conn.Close()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = zkReady(ctx, ln.Addr().String())
		cancel()
		ln.Close()
		if (err == nil) != tc.ok {
			t.Errorf("answer %q: ready = %v, want ok %v", tc.answer, err, tc.ok)
		}
	}
}
