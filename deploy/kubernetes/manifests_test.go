package kubernetes

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// Namespaces: pangate's workloads, and the Kafka cluster's (Strimzi's topic operator only watches the
// namespace of its Kafka resource).
const (
	namespace      = "pangate"
	kafkaNamespace = "kafka"
	kafkaCluster   = "pangate" // the Strimzi Kafka resource the topics belong to
)

// apiVersions is every kind these manifests may use, with the API version that serves it on Kubernetes
// 1.25+ (policy/v1 PDBs, autoscaling/v2 HPAs, batch/v1 CronJobs). A new kind must be added here on purpose.
var apiVersions = map[string]string{
	"Namespace":               "v1",
	"ServiceAccount":          "v1",
	"ConfigMap":               "v1",
	"Secret":                  "v1",
	"Service":                 "v1",
	"Deployment":              "apps/v1",
	"CronJob":                 "batch/v1",
	"PodDisruptionBudget":     "policy/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2",
	"KafkaTopic":              "kafka.strimzi.io/v1beta2",
	"KafkaUser":               "kafka.strimzi.io/v1beta2",
}

// dns1123 is a Kubernetes object name (RFC 1123 subdomain).
var dns1123 = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// services are the binaries of this module that run in the cluster; each is a directory with main.go.
var services = []string{"gateway", "approver", "indexer", "reporter"}

// noEndpoint are the services that serve no HTTP endpoint (the reporter: CronJobs running `generate`, or
// the `run` cron daemon).
var noEndpoint = map[string]bool{"reporter": true}

// image is ghcr.io/pangate/<service>:<tag>, one tag for all.
var imageRE = regexp.MustCompile(`^ghcr\.io/pangate/([a-z]+):(v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)$`)

func TestKustomizationListsEveryManifest(t *testing.T) {
	m := loadManifests(t)
	if m.Kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || m.Kust.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: apiVersion/kind %q/%q", m.Kust.APIVersion, m.Kust.Kind)
	}
	if m.Kust.Namespace != "" {
		t.Errorf("kustomization.yaml sets namespace %q: it would move the KafkaTopics out of %q where Strimzi watches them", m.Kust.Namespace, kafkaNamespace)
	}
	var want []string
	for _, f := range manifestFiles(t) {
		if f != "kustomization.yaml" && f != siteFile {
			want = append(want, f)
		}
	}
	got := slices.Clone(m.Kust.Resources)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources %v, want every manifest of the directory %v", got, want)
	}
	if slices.Contains(m.Kust.Resources, siteFile) {
		t.Errorf("%s holds placeholder secrets and must not be a resource", siteFile)
	}
}

func TestRequiredFields(t *testing.T) {
	m := loadManifests(t)
	seen := map[string]object{}
	for _, o := range m.all() {
		want, ok := apiVersions[o.Kind]
		if !ok {
			t.Errorf("%v: kind %q is not one these manifests use (add it to apiVersions on purpose)", o, o.Kind)
			continue
		}
		if o.APIVersion != want {
			t.Errorf("%v: apiVersion %q, want %q", o, o.APIVersion, want)
		}
		if !dns1123.MatchString(o.Metadata.Name) || len(o.Metadata.Name) > 253 {
			t.Errorf("%v: metadata.name %q is not a DNS-1123 name", o, o.Metadata.Name)
		}
		switch {
		case o.Kind == "Namespace":
			if o.Metadata.Namespace != "" {
				t.Errorf("%v: a Namespace has no namespace", o)
			}
		case o.Kind == "KafkaTopic" || o.Kind == "KafkaUser":
			if o.Metadata.Namespace != kafkaNamespace {
				t.Errorf("%v: %ss belong in namespace %q (the Kafka cluster's)", o, o.Kind, kafkaNamespace)
			}
		case o.Metadata.Namespace != namespace:
			t.Errorf("%v: namespace %q, want %q", o, o.Metadata.Namespace, namespace)
		}
		key := o.Kind + "/" + o.Metadata.Namespace + "/" + o.Metadata.Name
		if prev, dup := seen[key]; dup {
			t.Errorf("%v duplicates %v", o, prev)
		}
		seen[key] = o
		if o.Kind != "Namespace" && o.Kind != "KafkaTopic" && o.File != siteFile && o.Metadata.Labels["app.kubernetes.io/part-of"] != "pangate" {
			t.Errorf("%v: label app.kubernetes.io/part-of=pangate missing", o)
		}
		if o.Kind == "Secret" && o.File != siteFile {
			t.Errorf("%v: Secrets are created by each site (%s), never committed with the manifests", o, siteFile)
		}
		if (o.Kind == "ConfigMap" || o.Kind == "Secret") && len(o.keys()) == 0 {
			t.Errorf("%v: no data", o)
		}
	}
	if _, ok := m.find("Namespace", "", namespace); !ok {
		t.Errorf("no Namespace %q", namespace)
	}
}

func TestWorkloads(t *testing.T) {
	m := loadManifests(t)
	ws := m.workloads()
	scaled := map[string]bool{} // Deployments an HPA manages
	for _, h := range m.ofKind("HorizontalPodAutoscaler") {
		scaled[h.Spec.ScaleTargetRef.Name] = true
	}
	have := map[string]bool{}
	tags := map[string]string{}
	for _, w := range ws {
		o, pod := w.Owner, w.Pod
		name := o.Metadata.Labels["app.kubernetes.io/name"]
		have[name] = true
		if pod.Metadata.Labels["app.kubernetes.io/name"] != name {
			t.Errorf("%v: pod label app.kubernetes.io/name %q, want %q as on the owner", o, pod.Metadata.Labels["app.kubernetes.io/name"], name)
		}
		if o.Kind == "Deployment" {
			sel := selectorOf(o)
			if !matches(sel, pod.Metadata.Labels) {
				t.Errorf("%v: selector %v does not match the template labels %v", o, sel, pod.Metadata.Labels)
			}
			switch {
			case scaled[o.Metadata.Name] && o.Spec.Replicas != nil:
				t.Errorf("%v: an HPA manages the replica count; remove replicas (every kubectl apply would reset it)", o)
			case !scaled[o.Metadata.Name] && (o.Spec.Replicas == nil || *o.Spec.Replicas < 1):
				t.Errorf("%v: replicas must be set and at least 1", o)
			}
		}
		if o.Kind == "CronJob" {
			if len(strings.Fields(o.Spec.Schedule)) != 5 {
				t.Errorf("%v: schedule %q is not a five-field cron expression", o, o.Spec.Schedule)
			}
			if o.Spec.ConcurrencyPolicy != "Forbid" {
				t.Errorf("%v: concurrencyPolicy %q: use Forbid (two runs of one report must not race)", o, o.Spec.ConcurrencyPolicy)
			}
			if p := pod.Spec.RestartPolicy; p != "Never" && p != "OnFailure" {
				t.Errorf("%v: a Job pod's restartPolicy must be Never or OnFailure, got %q", o, p)
			}
		}
		// Security: the pod and every container run as non-root, read-only, without privileges.
		if pod.Spec.SecurityContext.RunAsNonRoot == nil || !*pod.Spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%v: securityContext.runAsNonRoot must be true", o)
		}
		// Pod Security "restricted" (namespace.yaml) admits only pods with a seccomp profile.
		if st := pod.Spec.SecurityContext.SeccompProfile.Type; st != "RuntimeDefault" && st != "Localhost" {
			t.Errorf("%v: securityContext.seccompProfile.type %q: use RuntimeDefault (Pod Security restricted)", o, st)
		}
		if u := pod.Spec.SecurityContext.RunAsUser; u == nil || *u == 0 {
			t.Errorf("%v: securityContext.runAsUser must be a non-zero uid (distroless nonroot is 65532)", o)
		}
		if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
			t.Errorf("%v: automountServiceAccountToken must be false (no pangate service calls the Kubernetes API)", o)
		}
		if sa := pod.Spec.ServiceAccountName; sa == "" {
			t.Errorf("%v: serviceAccountName is empty (the default account is shared)", o)
		} else if _, ok := m.find("ServiceAccount", namespace, sa); !ok {
			t.Errorf("%v: ServiceAccount %q is not defined", o, sa)
		}
		if len(pod.Spec.Containers) != 1 {
			t.Errorf("%v: %d containers, want exactly one (the service)", o, len(pod.Spec.Containers))
		}
		vols := map[string]volume{}
		for _, v := range pod.Spec.Volumes {
			if _, dup := vols[v.Name]; dup {
				t.Errorf("%v: volume %q twice", o, v.Name)
			}
			vols[v.Name] = v
			checkVolumeSource(t, m, o, v)
		}
		for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
			where := fmt.Sprintf("%v container %q", o, c.Name)
			sc := c.SecurityContext
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("%s: readOnlyRootFilesystem must be true", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation must be false", where)
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Errorf("%s: privileged", where)
			}
			if !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
				t.Errorf("%s: capabilities must drop ALL and add none", where)
			}
			if len(c.Command) > 0 {
				t.Errorf("%s: command is set; the image's entrypoint is the service binary, give args only", where)
			}
			if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
				t.Errorf("%s: set cpu and memory requests and a memory limit (the HPA scales on CPU requests)", where)
			}
			// Image: ghcr.io/pangate/<service>:<tag>, the service being the workload's name.
			mm := imageRE.FindStringSubmatch(c.Image)
			if mm == nil {
				t.Errorf("%s: image %q is not ghcr.io/pangate/<service>:vX.Y.Z", where, c.Image)
			} else {
				if mm[1] != name {
					t.Errorf("%s: image %q is not the %s image", where, c.Image, name)
				}
				tags[c.Image] = mm[2]
			}
			// Ports: named (probes and Services refer to names), unique.
			names := map[string]bool{}
			for _, p := range c.Ports {
				if p.Name == "" || len(p.Name) > 15 || !regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`).MatchString(p.Name) {
					t.Errorf("%s: port %d: name %q must be a lowercase IANA_SVC_NAME of at most 15 characters", where, p.ContainerPort, p.Name)
				}
				if names[p.Name] {
					t.Errorf("%s: port name %q twice", where, p.Name)
				}
				names[p.Name] = true
				if p.ContainerPort < 1024 || p.ContainerPort > 65535 {
					t.Errorf("%s: port %d: use an unprivileged port (the container runs as non-root)", where, p.ContainerPort)
				}
			}
			// Probes: HTTP on a named container port, the service's /readyz and /healthz. A daemon that
			// serves no endpoint (the reporter) has no ports and cannot be probed; Kubernetes restarts it
			// when it exits.
			if o.Kind == "Deployment" && len(c.Ports) == 0 && !noEndpoint[name] {
				t.Errorf("%s: no ports, so no probes: only %v serve no endpoint", where, keys(noEndpoint))
			}
			if o.Kind == "Deployment" && len(c.Ports) > 0 {
				if c.ReadinessProbe == nil || c.LivenessProbe == nil {
					t.Errorf("%s: readinessProbe and livenessProbe are required", where)
				}
				checkProbe(t, where+" readinessProbe", c.ReadinessProbe, "/readyz", c.Ports)
				checkProbe(t, where+" livenessProbe", c.LivenessProbe, "/healthz", c.Ports)
				checkProbe(t, where+" startupProbe", c.StartupProbe, "/healthz", c.Ports)
			}
			mounts := map[string]bool{}
			for _, vm := range c.VolumeMounts {
				if _, ok := vols[vm.Name]; !ok {
					t.Errorf("%s: volumeMount %q names no volume", where, vm.Name)
				}
				if mounts[vm.MountPath] {
					t.Errorf("%s: two mounts at %s", where, vm.MountPath)
				}
				mounts[vm.MountPath] = true
				if v := vols[vm.Name]; (v.Secret != nil || v.ConfigMap != nil) && !vm.ReadOnly {
					t.Errorf("%s: mount %s of a ConfigMap or Secret must be readOnly", where, vm.MountPath)
				}
			}
			for _, e := range c.Env {
				checkEnv(t, m, where, e)
			}
		}
	}
	for _, s := range services {
		if !have[s] {
			t.Errorf("no Deployment or CronJob runs %s", s)
		}
		if _, err := os.Stat("../../" + s + "/main.go"); err != nil {
			t.Errorf("service %s: %v (the image builds ./%s)", s, err, s)
		}
	}
	// One tag for every image, and kustomization.yaml pins the same one for each.
	distinct := map[string]bool{}
	for _, tag := range tags {
		distinct[tag] = true
	}
	if len(distinct) != 1 {
		t.Errorf("images use several tags %v; release all services together with one tag", tags)
	}
	kimg := map[string]string{}
	for _, i := range m.Kust.Images {
		kimg[i.Name] = i.NewTag
		if i.NewName != "" {
			t.Errorf("kustomization.yaml images: %s renames the image; keep ghcr.io/pangate/<service> in the base", i.Name)
		}
	}
	for img, tag := range tags {
		name := strings.Split(img, ":")[0]
		if kimg[name] != tag {
			t.Errorf("kustomization.yaml images: %s newTag %q, the manifests use %q", name, kimg[name], tag)
		}
	}
	if len(kimg) != len(services) {
		t.Errorf("kustomization.yaml images lists %d images, want one per service %v", len(kimg), services)
	}
}

// replicas is a Deployment's least replica count: its own, or its HPA's minReplicas.
func replicas(m manifests, d object) int {
	for _, h := range m.ofKind("HorizontalPodAutoscaler") {
		if h.Spec.ScaleTargetRef.Name == d.Metadata.Name && h.Spec.MinReplicas != nil {
			return *h.Spec.MinReplicas
		}
	}
	if d.Spec.Replicas == nil {
		return 1 // the API server's default
	}
	return *d.Spec.Replicas
}

func checkProbe(t *testing.T, where string, p *probe, path string, ports []containerPt) {
	t.Helper()
	if p == nil {
		return
	}
	if p.HTTPGet == nil {
		t.Errorf("%s: use httpGet on the ops endpoint", where)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s: path %q, want %q", where, p.HTTPGet.Path, path)
	}
	if _, ok := p.HTTPGet.Port.(string); !ok {
		t.Errorf("%s: port %v: name the container port instead of repeating its number", where, p.HTTPGet.Port)
	}
	if _, err := portRef(p.HTTPGet.Port, ports); err != nil {
		t.Errorf("%s: %v", where, err)
	}
}

// checkVolumeSource: a ConfigMap or Secret volume names an object the manifests or the site define, with
// every item key it picks.
func checkVolumeSource(t *testing.T, m manifests, o object, v volume) {
	t.Helper()
	var kind, name string
	var items []keyPath
	switch {
	case v.ConfigMap != nil:
		kind, name, items = "ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items
	case v.Secret != nil:
		kind, name, items = "Secret", v.Secret.SecretName, v.Secret.Items
	case v.EmptyDir != nil:
		return
	default:
		t.Errorf("%v: volume %q: only configMap, secret and emptyDir volumes are expected", o, v.Name)
		return
	}
	src, ok := m.find(kind, namespace, name)
	if !ok {
		t.Errorf("%v: volume %q: %s %q is defined neither in the manifests nor in %s", o, v.Name, kind, name, siteFile)
		return
	}
	keys := src.keys()
	for _, it := range items {
		if _, ok := keys[it.Key]; !ok {
			t.Errorf("%v: volume %q: %s %q has no key %q", o, v.Name, kind, name, it.Key)
		}
	}
}

func checkEnv(t *testing.T, m manifests, where string, e envVar) {
	t.Helper()
	if e.ValueFrom == nil {
		return
	}
	switch {
	case e.ValueFrom.FieldRef != nil:
		if p := e.ValueFrom.FieldRef.FieldPath; p != "metadata.name" && p != "metadata.namespace" {
			t.Errorf("%s: env %s: fieldRef %q not expected", where, e.Name, p)
		}
	case e.ValueFrom.SecretKeyRef != nil:
		r := e.ValueFrom.SecretKeyRef
		s, ok := m.find("Secret", namespace, r.Name)
		if !ok {
			t.Errorf("%s: env %s: Secret %q is not in %s", where, e.Name, r.Name, siteFile)
		} else if _, ok := s.keys()[r.Key]; !ok {
			t.Errorf("%s: env %s: Secret %q has no key %q", where, e.Name, r.Name, r.Key)
		}
	case e.ValueFrom.ConfigMapKeyRef != nil:
		r := e.ValueFrom.ConfigMapKeyRef
		c, ok := m.find("ConfigMap", namespace, r.Name)
		if !ok {
			t.Errorf("%s: env %s: ConfigMap %q is not defined", where, e.Name, r.Name)
		} else if _, ok := c.keys()[r.Key]; !ok {
			t.Errorf("%s: env %s: ConfigMap %q has no key %q", where, e.Name, r.Name, r.Key)
		}
	default:
		t.Errorf("%s: env %s: unexpected valueFrom", where, e.Name)
	}
}

func TestServicesReachNamedPorts(t *testing.T) {
	m := loadManifests(t)
	for _, s := range m.ofKind("Service") {
		sel := selectorOf(s)
		var pods []workload
		for _, w := range m.workloads() {
			if w.Owner.Kind == "Deployment" && matches(sel, w.Pod.Metadata.Labels) {
				pods = append(pods, w)
			}
		}
		if len(pods) != 1 {
			t.Errorf("%v: selector %v matches %d Deployments, want exactly one", s, sel, len(pods))
			continue
		}
		if len(s.Spec.Ports) == 0 {
			t.Errorf("%v: no ports", s)
		}
		for _, p := range s.Spec.Ports {
			if p.Name == "" {
				t.Errorf("%v: port %d has no name", s, p.Port)
			}
			if _, ok := p.TargetPort.(string); !ok {
				t.Errorf("%v: port %s: targetPort %v: name the container port", s, p.Name, p.TargetPort)
			}
			var found bool
			for _, c := range pods[0].Pod.Spec.Containers {
				if cp, err := portRef(p.TargetPort, c.Ports); err == nil {
					found = true
					if cp.Protocol != p.Protocol {
						t.Errorf("%v: port %s: protocol %q, container port %q", s, p.Name, p.Protocol, cp.Protocol)
					}
				}
			}
			if !found {
				t.Errorf("%v: port %s: targetPort %v is no container port of %v", s, p.Name, p.TargetPort, pods[0].Owner)
			}
		}
	}
}

func TestDisruptionBudgetsAndAutoscaler(t *testing.T) {
	m := loadManifests(t)
	deployments := map[string]object{}
	for _, d := range m.ofKind("Deployment") {
		deployments[d.Metadata.Name] = d
	}
	pdbFor := map[string]bool{}
	for _, p := range m.ofKind("PodDisruptionBudget") {
		sel := selectorOf(p)
		var hit []object
		for _, d := range deployments {
			if matches(sel, d.Spec.Template.Metadata.Labels) {
				hit = append(hit, d)
			}
		}
		if len(hit) != 1 {
			t.Errorf("%v: selector %v matches %d Deployments, want one", p, sel, len(hit))
			continue
		}
		d := hit[0]
		pdbFor[d.Metadata.Name] = true
		if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
			t.Errorf("%v: set exactly one of minAvailable and maxUnavailable", p)
		}
		if n, ok := p.Spec.MinAvailable.(int); ok && n >= replicas(m, d) {
			t.Errorf("%v: minAvailable %d with %d replicas blocks every node drain", p, n, replicas(m, d))
		}
		if n, ok := p.Spec.MaxUnavailable.(int); ok && n < 1 {
			t.Errorf("%v: maxUnavailable %d blocks every node drain", p, n)
		}
	}
	for name, d := range deployments {
		// A single replica gains nothing from a budget (it could only block node drains).
		if !pdbFor[name] && replicas(m, d) > 1 {
			t.Errorf("%v has %d replicas and no PodDisruptionBudget", d, replicas(m, d))
		}
	}
	hpas := m.ofKind("HorizontalPodAutoscaler")
	if len(hpas) == 0 {
		t.Error("no HorizontalPodAutoscaler (the gateway scales on CPU)")
	}
	for _, h := range hpas {
		r := h.Spec.ScaleTargetRef
		d, ok := deployments[r.Name]
		if !ok || r.Kind != "Deployment" || r.APIVersion != "apps/v1" {
			t.Errorf("%v: scaleTargetRef %+v names no Deployment", h, r)
			continue
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("%v: want 2 <= minReplicas <= maxReplicas, got %v..%d", h, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Resources.Requests["cpu"] == "" {
				t.Errorf("%v: container %s has no CPU request; CPU utilisation is relative to it", h, c.Name)
			}
		}
	}
}
