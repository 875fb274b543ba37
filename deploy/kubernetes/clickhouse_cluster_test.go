package kubernetes

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// clusterDir holds the replicated ClickHouse (apply -k separately from the base).
const clusterDir = "clickhouse-cluster"

// clusterService is the Service in front of every ClickHouse replica: the reporter's address.
const clusterService = "clickhouse-pangate.clickhouse.svc.cluster.local:9000"

// chObject is the part of a clickhouse-cluster/ document these tests read.
type chObject struct {
	Kind     string `yaml:"kind"`
	Metadata meta   `yaml:"metadata"`
	Data     map[string]string
	Spec     struct {
		ServiceName string         `yaml:"serviceName"`
		Replicas    int            `yaml:"replicas"`
		Selector    map[string]any `yaml:"selector"`
		Template    podTemplate    `yaml:"template"`
	} `yaml:"spec"`
}

func clusterDocs(t *testing.T) (files []string, docs []chObject, nodes []*yaml.Node) {
	t.Helper()
	fs, err := filepath.Glob(filepath.Join(clusterDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		files = append(files, filepath.Base(f))
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var n yaml.Node
			if err := dec.Decode(&n); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s#%d: %v", f, i, err)
			}
			var o chObject
			if err := n.Decode(&o); err != nil {
				t.Fatalf("%s#%d: %v", f, i, err)
			}
			docs, nodes = append(docs, o), append(nodes, &n)
		}
	}
	return files, docs, nodes
}

// TestClickHouseClusterFields checks clickhouse-cluster/ like the base: every field known to the Kubernetes
// API types, and every manifest listed in its kustomization.
func TestClickHouseClusterFields(t *testing.T) {
	s := loadFieldSchema(t)
	files, docs, nodes := clusterDocs(t)
	for i, n := range nodes {
		var head struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
		}
		if err := n.Decode(&head); err != nil {
			t.Fatal(err)
		}
		ref, ok := s.Kinds[head.APIVersion+" "+head.Kind]
		if !ok {
			t.Errorf("%s %s/%s: %s %s is not in testdata/k8s-fields.json (add it to schemagen)", clusterDir, docs[i].Kind, docs[i].Metadata.Name, head.APIVersion, head.Kind)
			continue
		}
		var errs []string
		s.check(n.Content[0], ref, head.Kind, &errs)
		for _, e := range errs {
			t.Errorf("%s %s/%s %s", clusterDir, docs[i].Kind, docs[i].Metadata.Name, e)
		}
	}
	var k struct {
		Resources []string `yaml:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(clusterDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	sort.Strings(k.Resources)
	if !slices.Equal(k.Resources, files) {
		t.Errorf("%s/kustomization.yaml resources %v, want every manifest of the directory %v", clusterDir, k.Resources, files)
	}
	if len(docs) < 8 {
		t.Errorf("%s holds %d documents", clusterDir, len(docs))
	}
}

// chConfig is the part of a ClickHouse config (config.d or users.d fragment, or the local profile's files)
// compared here.
type chConfig struct {
	Shards []struct {
		InternalReplication bool `xml:"internal_replication"`
		Replicas            []struct {
			Host string `xml:"host"`
			Port int    `xml:"port"`
			User string `xml:"user"`
		} `xml:"replica"`
	} `xml:"remote_servers>pangate>shard"`
	ZooKeeper []struct {
		Host string `xml:"host"`
	} `xml:"zookeeper>node"`
	DDLPath  string `xml:"distributed_ddl>path"`
	Profiles struct {
		Items []profile `xml:",any"`
	} `xml:"profiles"`
	Users struct {
		Items []struct {
			XMLName xml.Name
			Profile string   `xml:"profile"`
			DBs     []string `xml:"allow_databases>database"`
		} `xml:",any"`
	} `xml:"users"`
}

type profile struct {
	XMLName                xml.Name
	InsertDistributedSync  string `xml:"insert_distributed_sync"`
	DistributedProductMode string `xml:"distributed_product_mode"`
	Readonly               string `xml:"readonly"`
	AllowDDL               string `xml:"allow_ddl"`
}

func parseCH(t *testing.T, what, text string) chConfig {
	t.Helper()
	var c chConfig
	if err := xml.Unmarshal([]byte(text), &c); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return c
}

// TestClickHouseClusterMatchesLocalProfile: the Kubernetes cluster has the layout and settings the local
// profile (deploy/local/chcluster) runs in integration/chcluster — cluster pangate of two shards of two
// replicas, internal replication, one ZooKeeper path for ON CLUSTER DDL, the same sync-insert and
// distributed-subquery settings per profile and the same users on them — and the indexer's configuration
// names that cluster and lists every replica, the reporter's address reaching them all.
func TestClickHouseClusterMatchesLocalProfile(t *testing.T) {
	_, docs, _ := clusterDocs(t)
	var cm *chObject
	var chSets, zkSets []chObject
	var svc *chObject
	for i, o := range docs {
		switch {
		case o.Kind == "ConfigMap" && o.Metadata.Name == "clickhouse-pangate-config":
			cm = &docs[i]
		case o.Kind == "StatefulSet" && o.Metadata.Labels["app.kubernetes.io/name"] == "clickhouse":
			chSets = append(chSets, o)
		case o.Kind == "StatefulSet" && o.Metadata.Labels["app.kubernetes.io/name"] == "zookeeper":
			zkSets = append(zkSets, o)
		case o.Kind == "Service" && o.Metadata.Name+"."+o.Metadata.Namespace+".svc.cluster.local:9000" == clusterService:
			svc = &docs[i]
		}
	}
	if cm == nil || svc == nil || len(chSets) != 2 || len(zkSets) != 1 {
		t.Fatalf("%s: want ConfigMap clickhouse-pangate-config, Service for %s, two ClickHouse StatefulSets (one per shard) and one ZooKeeper StatefulSet; have %v, %v, %d, %d",
			clusterDir, clusterService, cm != nil, svc != nil, len(chSets), len(zkSets))
	}
	pods := func(o chObject) []string {
		var out []string
		for i := 0; i < o.Spec.Replicas; i++ {
			out = append(out, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local", o.Metadata.Name, i, o.Spec.ServiceName, o.Metadata.Namespace))
		}
		return out
	}
	env := func(o chObject, name string) string {
		for _, c := range o.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.Name == name {
					return e.Value
				}
			}
		}
		return ""
	}

	k8s := parseCH(t, "pangate-cluster.xml", cm.Data["pangate-cluster.xml"])
	local := parseCH(t, "deploy/local/chcluster/config.xml", renderLocal(t, "../local/chcluster/config.xml"))
	if len(k8s.Shards) != 2 || len(local.Shards) != len(k8s.Shards) {
		t.Fatalf("remote_servers pangate: %d shards in Kubernetes, %d in the local profile; want 2 in both", len(k8s.Shards), len(local.Shards))
	}
	var addrs []string
	for i, sh := range k8s.Shards {
		set := chSets[i]
		if want := fmt.Sprintf("%02d", i+1); env(set, "CLICKHOUSE_SHARD") != want {
			t.Errorf("StatefulSet %s serves shard %d of remote_servers but sets macro {shard} %q, want %q", set.Metadata.Name, i+1, env(set, "CLICKHOUSE_SHARD"), want)
		}
		if !sh.InternalReplication {
			t.Errorf("shard %d: internal_replication is not true (the Distributed table would write every replica itself)", i+1)
		}
		var hosts []string
		for _, r := range sh.Replicas {
			hosts = append(hosts, r.Host)
			addrs = append(addrs, fmt.Sprintf("%s:%d", r.Host, r.Port))
			if r.User != "cluster" {
				t.Errorf("shard %d replica %s: Distributed tables log in as %q, want the cluster user", i+1, r.Host, r.User)
			}
		}
		if !slices.Equal(hosts, pods(set)) {
			t.Errorf("shard %d replicas %v, want the pods of StatefulSet %s %v", i+1, hosts, set.Metadata.Name, pods(set))
		}
		if len(sh.Replicas) != len(local.Shards[i].Replicas) {
			t.Errorf("shard %d: %d replicas in Kubernetes, %d in the local profile", i+1, len(sh.Replicas), len(local.Shards[i].Replicas))
		}
	}
	var zk []string
	for _, n := range k8s.ZooKeeper {
		zk = append(zk, n.Host)
	}
	if !slices.Equal(zk, pods(zkSets[0])) {
		t.Errorf("zookeeper nodes %v, want the pods of StatefulSet %s %v", zk, zkSets[0].Metadata.Name, pods(zkSets[0]))
	}
	if k8s.DDLPath == "" || k8s.DDLPath != local.DDLPath {
		t.Errorf("distributed_ddl path %q, the local profile's %q", k8s.DDLPath, local.DDLPath)
	}

	// Profiles and users: the settings exactly-once and the reporter's subqueries depend on.
	ku := parseCH(t, "pangate-users.xml", cm.Data["pangate-users.xml"])
	lu := parseCH(t, "deploy/local/chcluster/users.xml", renderLocal(t, "../local/chcluster/users.xml"))
	byName := func(ps []profile) map[string]profile {
		m := map[string]profile{}
		for _, p := range ps {
			m[p.XMLName.Local] = p
		}
		return m
	}
	kp, lp := byName(ku.Profiles.Items), byName(lu.Profiles.Items)
	for _, name := range []string{"default", "indexer", "readonly", "cluster"} {
		k, l := kp[name], lp[name]
		k.XMLName, l.XMLName = xml.Name{}, xml.Name{}
		if _, ok := kp[name]; !ok || k != l {
			t.Errorf("profile %s: Kubernetes %+v, local profile %+v", name, k, l)
		}
	}
	if kp["indexer"].InsertDistributedSync != "1" || kp["readonly"].DistributedProductMode != "global" {
		t.Errorf("indexer insert_distributed_sync %q (want 1), readonly distributed_product_mode %q (want global)", kp["indexer"].InsertDistributedSync, kp["readonly"].DistributedProductMode)
	}
	users := map[string]string{}
	for _, u := range lu.Users.Items {
		users[u.XMLName.Local] = u.Profile
	}
	for _, u := range ku.Users.Items {
		if u.Profile == "" {
			continue // <default remove="remove"/>
		}
		if users[u.XMLName.Local] != u.Profile {
			t.Errorf("user %s has profile %q in Kubernetes, %q in the local profile", u.XMLName.Local, u.Profile, users[u.XMLName.Local])
		}
		delete(users, u.XMLName.Local)
	}
	delete(users, "default")
	if len(users) > 0 {
		t.Errorf("users of the local profile missing in Kubernetes: %v", users)
	}

	// The indexer writes to this cluster through every replica; the reporter's Service reaches them all.
	m := loadManifests(t)
	ic, ok := m.find("ConfigMap", "pangate", "indexer-config")
	if !ok {
		t.Fatal("ConfigMap pangate/indexer-config missing")
	}
	var idx struct {
		ClickHouse struct {
			Cluster string   `yaml:"cluster"`
			Addrs   []string `yaml:"addrs"`
		} `yaml:"clickhouse"`
	}
	if err := yaml.Unmarshal([]byte(ic.Data["indexer.yaml"]), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.ClickHouse.Cluster != "pangate" || !slices.Equal(idx.ClickHouse.Addrs, addrs) {
		t.Errorf("indexer clickhouse.cluster %q and addrs %v; want pangate (remote_servers) and every replica %v", idx.ClickHouse.Cluster, idx.ClickHouse.Addrs, addrs)
	}
	sel := map[string]string{}
	for k, v := range svc.Spec.Selector {
		sel[k] = fmt.Sprint(v)
	}
	for _, set := range chSets {
		if !matches(sel, set.Spec.Template.Metadata.Labels) {
			t.Errorf("Service %s (selector %v) does not reach the pods of %s", svc.Metadata.Name, sel, set.Metadata.Name)
		}
	}
	if !strings.Contains(readFile(t, "reporter.yaml"), clusterService[:strings.LastIndex(clusterService, ":")]) {
		t.Errorf("reporter.yaml does not read ClickHouse at %s", clusterService)
	}
}

// renderLocal renders a template of the local profile (deploy/local/chcluster.go fills it with ports,
// paths and password hashes) with placeholders, two shards of two replicas and cluster pangate.
func renderLocal(t *testing.T, path string) string {
	t.Helper()
	text := readFile(t, path)
	fields := map[string]any{"Cluster": "pangate"}
	for _, m := range regexp.MustCompile(`\{\{\$?\.(\w+)\}\}`).FindAllStringSubmatch(text, -1) {
		if _, ok := fields[m[1]]; !ok {
			fields[m[1]] = "1"
		}
	}
	replica := map[string]any{"NativePort": 9000}
	fields["Shards"] = [][]map[string]any{{replica, replica}, {replica, replica}}
	var b strings.Builder
	if err := template.Must(template.New(path).Parse(text)).Execute(&b, fields); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
