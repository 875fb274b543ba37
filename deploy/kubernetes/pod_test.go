package kubernetes

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// pod is a container's view of its filesystem and environment, rebuilt under a temporary directory so a
// service's own config package can load and validate the configuration exactly as the pod would see it:
// every ConfigMap and Secret volume is written at its mount path (below Root), Secret values are stand-ins
// (site.example.yaml holds placeholders only), and env is what the container spec sets.
type pod struct {
	Root   string
	Name   string // the pod name metadata.name resolves to
	Env    []string
	mounts []string // mount paths, longest first
	w      workload
	c      container
}

// keyPairs names the Secret keys that hold one half of an Ed25519 key pair; their stand-ins are real keys
// (one pair per Secret, PKCS#8 private / PKIX public PEM, as `gateway keygen` and `reporter keygen` write
// them), so the test can load them as the services do and notice a private key mounted where the public
// one belongs, or the reverse.
var keyPairs = map[string]bool{ // "secret/key" -> public half
	"pangate-gateway-checkpoint-key/checkpoint.pem":     false,
	"pangate-gateway-checkpoint-key/checkpoint.pub.pem": true,
	"pangate-reporter-signing-key/reporter.key":         false,
	"pangate-approver-decision-key/decision.pem":        false,
	"pangate-approver-decision-key/decision.pub.pem":    true,
	"pangate-reporter-signing-key/reporter.pub":         true,
}

// secretKey is the stand-in key pair of a Secret.
func secretKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("stand-in key pair for " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// secretValue is the stand-in for a Secret key: a real key for the halves of key pairs, otherwise text
// long enough for every "at least 32 bytes" rule.
func secretValue(name, key string) string {
	public, pair := keyPairs[name+"/"+key]
	if !pair {
		return fmt.Sprintf("test-secret:%s/%s:%s", name, key, strings.Repeat("x", 32))
	}
	priv := secretKey(name)
	if public {
		der, _ := x509.MarshalPKIXPublicKey(priv.Public())
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func newPod(t *testing.T, m manifests, w workload) *pod {
	t.Helper()
	if len(w.Pod.Spec.Containers) == 0 {
		t.Fatalf("%v: no containers", w.Owner)
	}
	c := w.Pod.Spec.Containers[0]
	p := &pod{Root: t.TempDir(), Name: w.Owner.Metadata.Name + "-7d9f8c6b5-x2x7q", w: w, c: c}
	vols := map[string]volume{}
	for _, v := range w.Pod.Spec.Volumes {
		vols[v.Name] = v
	}
	for _, vm := range c.VolumeMounts {
		files := map[string]string{} // path within the volume -> content
		v := vols[vm.Name]
		switch {
		case v.ConfigMap != nil:
			src, ok := m.find("ConfigMap", namespace, v.ConfigMap.Name)
			if !ok {
				t.Fatalf("%v: ConfigMap %q not defined", w.Owner, v.ConfigMap.Name)
			}
			files = project(src.keys(), v.ConfigMap.Items, func(k, val string) string { return val })
		case v.Secret != nil:
			src, ok := m.find("Secret", namespace, v.Secret.SecretName)
			if !ok {
				t.Fatalf("%v: Secret %q not defined", w.Owner, v.Secret.SecretName)
			}
			files = project(src.keys(), v.Secret.Items, func(k, _ string) string { return secretValue(v.Secret.SecretName, k) })
		case v.EmptyDir != nil:
		default:
			t.Fatalf("%v: volume %q has no source the test knows", w.Owner, vm.Name)
		}
		dst := filepath.Join(p.Root, vm.MountPath)
		if vm.SubPath != "" {
			content, ok := files[vm.SubPath]
			if !ok {
				t.Fatalf("%v: mount %s: subPath %q is not in volume %q", w.Owner, vm.MountPath, vm.SubPath, vm.Name)
			}
			writeFile(t, dst, content)
		} else {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, content := range files {
				writeFile(t, filepath.Join(dst, name), content)
			}
		}
		p.mounts = append(p.mounts, vm.MountPath)
	}
	sort.Slice(p.mounts, func(i, j int) bool { return len(p.mounts[i]) > len(p.mounts[j]) })
	for _, e := range c.Env {
		val := e.Value
		if vf := e.ValueFrom; vf != nil {
			switch {
			case vf.FieldRef != nil && vf.FieldRef.FieldPath == "metadata.name":
				val = p.Name
			case vf.FieldRef != nil && vf.FieldRef.FieldPath == "metadata.namespace":
				val = namespace
			case vf.SecretKeyRef != nil:
				val = secretValue(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key)
			case vf.ConfigMapKeyRef != nil:
				cm, _ := m.find("ConfigMap", namespace, vf.ConfigMapKeyRef.Name)
				val = cm.keys()[vf.ConfigMapKeyRef.Key]
			default:
				t.Fatalf("%v: env %s: valueFrom the test cannot resolve", w.Owner, e.Name)
			}
		}
		if strings.HasPrefix(val, "/") {
			val = p.path(t, "env "+e.Name, val)
		}
		p.Env = append(p.Env, e.Name+"="+val)
	}
	return p
}

// project applies a volume's items (key -> path) to a ConfigMap's or Secret's keys.
func project(keys map[string]string, items []keyPath, content func(k, v string) string) map[string]string {
	out := map[string]string{}
	if len(items) == 0 {
		for k, v := range keys {
			out[k] = content(k, v)
		}
		return out
	}
	for _, it := range items {
		out[it.Path] = content(it.Key, keys[it.Key])
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// path maps an absolute path inside the container to the test's copy; a path no volume provides fails
// the test, because the service would not find it either (the root filesystem is read-only and the image
// holds only the binary).
func (p *pod) path(t *testing.T, what, inPod string) string {
	t.Helper()
	for _, mp := range p.mounts {
		if inPod == mp || strings.HasPrefix(inPod, strings.TrimSuffix(mp, "/")+"/") {
			return filepath.Join(p.Root, inPod)
		}
	}
	t.Errorf("%v: %s names %s, which no volume mount provides (mounts: %v)", p.w.Owner, what, inPod, p.mounts)
	return filepath.Join(p.Root, inPod)
}

// fileSettings are settings that name files without the "_file" suffix (the reporter's keys).
var fileSettings = map[string]bool{"signing_key": true, "gateway_keys": true, "decision_keys": true, "decision_public_keys": true}

// configFile returns the value of the container's -config flag and writes the configuration, with every
// absolute file path rewritten into the test's root, to a temporary file whose path it returns too. Each
// "*_file" setting (and each of fileSettings) must name a file some volume provides.
func (p *pod) configFile(t *testing.T) (inPod, local string) {
	t.Helper()
	inPod = flagValue(p.c.Args, "config")
	if inPod == "" {
		t.Fatalf("%v: the container args %q give no -config", p.w.Owner, p.c.Args)
	}
	b, err := os.ReadFile(p.path(t, "-config", inPod))
	if err != nil {
		t.Fatalf("%v: -config %s: %v", p.w.Owner, inPod, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v: %s: %v", p.w.Owner, inPod, err)
	}
	p.rewrite(t, &doc, "")
	out, err := yaml.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	local = filepath.Join(t.TempDir(), filepath.Base(inPod))
	writeFile(t, local, string(out))
	return inPod, local
}

func (p *pod) rewrite(t *testing.T, n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			p.rewrite(t, c, key)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p.rewrite(t, n.Content[i+1], n.Content[i].Value)
		}
	case yaml.ScalarNode:
		// Files are the "*_file" settings and fileSettings; other values that start with '/' (an HTTP path)
		// are not files.
		if !(strings.HasSuffix(key, "_file") || fileSettings[key]) || n.Value == "" {
			return
		}
		if !filepath.IsAbs(n.Value) {
			t.Errorf("%v: setting %s %q: use an absolute path inside a mounted volume", p.w.Owner, key, n.Value)
			return
		}
		local := p.path(t, "setting "+key, n.Value)
		if st, err := os.Stat(local); err != nil || st.IsDir() {
			t.Errorf("%v: setting %s: %s is not a file the volumes provide", p.w.Owner, key, n.Value)
		}
		n.Value = local
	}
}

// setenv makes the pod's environment the test process's environment, for config packages that read
// os.Getenv: every PANGATE_* variable of the test's own environment is removed first (t.Setenv restores
// it after the test), so CI's variables cannot leak in.
func (p *pod) setenv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PANGATE_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, kv := range p.Env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// port returns the container port named name.
func (p *pod) port(t *testing.T, name string) int {
	t.Helper()
	cp, err := portRef(name, p.c.Ports)
	if err != nil {
		t.Errorf("%v: %v", p.w.Owner, err)
	}
	return cp.ContainerPort
}

// listensOn checks that addr (a service's configured listen address) is reachable from outside the pod on
// the container port named portName: a loopback listener would fail every probe and Service.
func (p *pod) listensOn(t *testing.T, setting, addr, portName string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%v: %s %q: %v", p.w.Owner, setting, addr, err)
		return
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("%v: %s %q listens on loopback: probes and Services cannot reach it; use 0.0.0.0", p.w.Owner, setting, addr)
	}
	if n, _ := strconv.Atoi(port); n != p.port(t, portName) {
		t.Errorf("%v: %s %q, but container port %q is %d", p.w.Owner, setting, addr, portName, p.port(t, portName))
	}
}
