package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The subset of the Kubernetes (and Strimzi) object model the tests read. Fields the tests do not check are
// not declared; yaml.v3 ignores them.

type object struct {
	File       string            `yaml:"-"`
	Index      int               `yaml:"-"` // document number in File, from 0
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   meta              `yaml:"metadata"`
	Type       string            `yaml:"type"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       spec              `yaml:"spec"`
	// AutomountServiceAccountToken is the ServiceAccount field.
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
}

func (o object) String() string {
	return fmt.Sprintf("%s %s/%s (%s#%d)", o.Kind, o.Metadata.Namespace, o.Metadata.Name, o.File, o.Index)
}

type meta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type spec struct {
	// Deployment, PodDisruptionBudget: {matchLabels: …}; Service: a plain label map. Read with selectorOf.
	Selector map[string]any `yaml:"selector"`
	Replicas *int           `yaml:"replicas"` // Deployment, KafkaTopic
	Strategy struct {
		Type string `yaml:"type"`
	} `yaml:"strategy"`
	Template podTemplate `yaml:"template"`
	// CronJob
	Schedule                   string `yaml:"schedule"`
	TimeZone                   string `yaml:"timeZone"`
	ConcurrencyPolicy          string `yaml:"concurrencyPolicy"`
	StartingDeadlineSeconds    *int   `yaml:"startingDeadlineSeconds"`
	SuccessfulJobsHistoryLimit *int   `yaml:"successfulJobsHistoryLimit"`
	FailedJobsHistoryLimit     *int   `yaml:"failedJobsHistoryLimit"`
	JobTemplate                struct {
		Spec struct {
			BackoffLimit          *int        `yaml:"backoffLimit"`
			ActiveDeadlineSeconds *int        `yaml:"activeDeadlineSeconds"`
			Template              podTemplate `yaml:"template"`
		} `yaml:"spec"`
	} `yaml:"jobTemplate"`
	// Service
	Type  string        `yaml:"type"`
	Ports []servicePort `yaml:"ports"`
	// HorizontalPodAutoscaler
	ScaleTargetRef struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Name       string `yaml:"name"`
	} `yaml:"scaleTargetRef"`
	MinReplicas *int `yaml:"minReplicas"`
	MaxReplicas int  `yaml:"maxReplicas"`
	// PodDisruptionBudget: an int or a percentage.
	MinAvailable   any `yaml:"minAvailable"`
	MaxUnavailable any `yaml:"maxUnavailable"`
	// KafkaTopic (Strimzi)
	TopicName  string         `yaml:"topicName"`
	Partitions int            `yaml:"partitions"`
	Config     map[string]any `yaml:"config"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort any    `yaml:"targetPort"`
	Protocol   string `yaml:"protocol"`
}

type podTemplate struct {
	Metadata meta    `yaml:"metadata"`
	Spec     podSpec `yaml:"spec"`
}

type podSpec struct {
	ServiceAccountName            string      `yaml:"serviceAccountName"`
	TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
	AutomountServiceAccountToken  *bool       `yaml:"automountServiceAccountToken"`
	RestartPolicy                 string      `yaml:"restartPolicy"`
	SecurityContext               podSecurity `yaml:"securityContext"`
	Containers                    []container `yaml:"containers"`
	InitContainers                []container `yaml:"initContainers"`
	Volumes                       []volume    `yaml:"volumes"`
}

type podSecurity struct {
	RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
	RunAsUser      *int  `yaml:"runAsUser"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

type container struct {
	Name            string        `yaml:"name"`
	Image           string        `yaml:"image"`
	Command         []string      `yaml:"command"`
	Args            []string      `yaml:"args"`
	Env             []envVar      `yaml:"env"`
	Ports           []containerPt `yaml:"ports"`
	ReadinessProbe  *probe        `yaml:"readinessProbe"`
	LivenessProbe   *probe        `yaml:"livenessProbe"`
	StartupProbe    *probe        `yaml:"startupProbe"`
	VolumeMounts    []volumeMount `yaml:"volumeMounts"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Privileged               *bool `yaml:"privileged"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
	} `yaml:"valueFrom"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type containerPt struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Port any `yaml:"port"`
	} `yaml:"tcpSocket"`
	Exec any `yaml:"exec"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	SubPath   string `yaml:"subPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name  string    `yaml:"name"`
		Items []keyPath `yaml:"items"`
	} `yaml:"configMap"`
	Secret *struct {
		SecretName string    `yaml:"secretName"`
		Items      []keyPath `yaml:"items"`
	} `yaml:"secret"`
	EmptyDir any `yaml:"emptyDir"`
}

type keyPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

// workload is one pod template with the object that owns it.
type workload struct {
	Owner object
	Pod   podTemplate
}

// manifests is everything the tests read from this directory.
type manifests struct {
	Resources []object // the documents of the files kustomization.yaml lists
	Site      []object // site.example.yaml: Secrets and ConfigMaps each site creates
	Kust      kustomization
}

type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace"`
	Resources  []string `yaml:"resources"`
	Images     []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

// siteFile lists the objects a site creates itself; it is not a kustomize resource.
const siteFile = "site.example.yaml"

func loadManifests(t *testing.T) manifests {
	t.Helper()
	var m manifests
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m.Kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	for _, f := range m.Kust.Resources {
		objs, err := decodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m.Resources = append(m.Resources, objs...)
	}
	if m.Site, err = decodeFile(siteFile); err != nil {
		t.Fatal(err)
	}
	return m
}

// decodeFile parses every YAML document of path; an empty document is an error (a stray "---").
func decodeFile(path string) ([]object, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []object
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", path, i, err)
		}
		if len(n.Content) == 0 || n.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: document %d is empty or not a mapping", path, i)
		}
		o := object{File: path, Index: i}
		if err := n.Decode(&o); err != nil {
			return nil, fmt.Errorf("%s: document %d: %v", path, i, err)
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no documents", path)
	}
	return out, nil
}

func (m manifests) all() []object { return append(append([]object{}, m.Resources...), m.Site...) }

// find returns the object of kind and name in namespace ns, among the resources and the site objects.
func (m manifests) find(kind, ns, name string) (object, bool) {
	for _, o := range m.all() {
		if o.Kind == kind && o.Metadata.Namespace == ns && o.Metadata.Name == name {
			return o, true
		}
	}
	return object{}, false
}

func (m manifests) workloads() []workload {
	var out []workload
	for _, o := range m.Resources {
		switch o.Kind {
		case "Deployment":
			out = append(out, workload{o, o.Spec.Template})
		case "CronJob":
			out = append(out, workload{o, o.Spec.JobTemplate.Spec.Template})
		}
	}
	return out
}

func (m manifests) ofKind(kind string) []object {
	var out []object
	for _, o := range m.Resources {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// keys returns the data keys of a ConfigMap or Secret.
func (o object) keys() map[string]string {
	out := map[string]string{}
	for k, v := range o.Data {
		out[k] = v
	}
	for k, v := range o.StringData {
		out[k] = v
	}
	return out
}

// selectorOf returns the label selector of a Deployment/PDB ({matchLabels}) or Service (plain map).
func selectorOf(o object) map[string]string {
	src := o.Spec.Selector
	if o.Kind != "Service" {
		ml, _ := src["matchLabels"].(map[string]any)
		src = ml
	}
	out := map[string]string{}
	for k, v := range src {
		out[k] = fmt.Sprint(v)
	}
	return out
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// portRef resolves a probe or Service port (a name or a number) against a container's ports.
func portRef(ref any, ports []containerPt) (containerPt, error) {
	switch v := ref.(type) {
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			ref = n
			break
		}
		for _, p := range ports {
			if p.Name == v {
				return p, nil
			}
		}
		return containerPt{}, fmt.Errorf("no container port named %q (have %v)", v, portNames(ports))
	case int:
	default:
		return containerPt{}, fmt.Errorf("port %v (%T) is neither a name nor a number", ref, ref)
	}
	for _, p := range ports {
		if p.ContainerPort == ref.(int) {
			return p, nil
		}
	}
	return containerPt{}, fmt.Errorf("no container port %v (have %v)", ref, portNames(ports))
}

func portNames(ports []containerPt) []string {
	var out []string
	for _, p := range ports {
		out = append(out, fmt.Sprintf("%s=%d", p.Name, p.ContainerPort))
	}
	sort.Strings(out)
	return out
}

// manifestFiles lists the YAML files of this directory.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	fs, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		if !strings.HasPrefix(f, ".") {
			out = append(out, f)
		}
	}
	return out
}
