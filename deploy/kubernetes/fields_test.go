package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// fieldSchema is testdata/k8s-fields.json (written by ./schemagen from the k8s.io/api types): every field
// name and value kind the API accepts for the kinds these manifests use.
type fieldSchema struct {
	Source string            `json:"source"`
	Kinds  map[string]string `json:"kinds"`
	Types  map[string]struct {
		Kind   string            `json:"kind"`
		Fields map[string]string `json:"fields"`
		Elem   string            `json:"elem"`
	} `json:"types"`
}

func loadFieldSchema(t *testing.T) fieldSchema {
	t.Helper()
	b, err := os.ReadFile("testdata/k8s-fields.json")
	if err != nil {
		t.Fatal(err)
	}
	var s fieldSchema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Kinds) == 0 || len(s.Types) == 0 {
		t.Fatal("testdata/k8s-fields.json is empty")
	}
	return s
}

// check reports every field of n that type ref does not have, or whose YAML value is of another kind.
func (s fieldSchema) check(n *yaml.Node, ref, path string, errs *[]string) {
	bad := func(format string, args ...any) {
		*errs = append(*errs, fmt.Sprintf("line %d: %s: ", n.Line, path)+fmt.Sprintf(format, args...))
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch ref {
	case "any":
		return
	case "string", "int", "bool", "number", "intorstring", "quantity":
		if n.Kind != yaml.ScalarNode {
			bad("want a %s value, got a %s", ref, nodeKind(n))
			return
		}
		if n.Tag == "!!null" {
			return
		}
		ok := map[string][]string{
			"string":      {"!!str"},
			"int":         {"!!int"},
			"bool":        {"!!bool"},
			"number":      {"!!int", "!!float"},
			"intorstring": {"!!int", "!!str"},
			"quantity":    {"!!int", "!!float", "!!str"},
		}[ref]
		if !contains(ok, n.Tag) {
			bad("value %q is YAML %s; the API wants %s (quote text that looks like a number or boolean)", n.Value, strings.TrimPrefix(n.Tag, "!!"), ref)
		}
		return
	}
	typ, known := s.Types[ref]
	if !known {
		bad("schema has no type %q (regenerate testdata/k8s-fields.json)", ref)
		return
	}
	if n.Tag == "!!null" {
		return
	}
	switch typ.Kind {
	case "object":
		if n.Kind != yaml.MappingNode {
			bad("want an object, got a %s", nodeKind(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			fref, ok := typ.Fields[k.Value]
			if !ok {
				*errs = append(*errs, fmt.Sprintf("line %d: %s: unknown field %q (the API server would refuse or drop it)", k.Line, path, k.Value))
				continue
			}
			s.check(v, fref, path+"."+k.Value, errs)
		}
	case "map":
		if n.Kind != yaml.MappingNode {
			bad("want a map, got a %s", nodeKind(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			s.check(n.Content[i+1], typ.Elem, path+"."+n.Content[i].Value, errs)
		}
	case "list":
		if n.Kind != yaml.SequenceNode {
			bad("want a list, got a %s", nodeKind(n))
			return
		}
		for i, c := range n.Content {
			s.check(c, typ.Elem, fmt.Sprintf("%s[%d]", path, i), errs)
		}
	default:
		bad("schema type %q has kind %q", ref, typ.Kind)
	}
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	}
	return "node"
}

// TestFieldsKnownToKubernetes checks every document of every manifest (and of site.example.yaml) against
// the field names and value kinds of the Kubernetes API types: a misspelt field, a field at the wrong
// level, a number where the API wants text (an unquoted "true" label value) or a list where it wants an
// object fails here rather than at `kubectl apply`. KafkaTopic and KafkaUser (Strimzi) are not in
// k8s.io/api; their fields are checked against schemas.Topics by TestKafkaTopicsMatchSchemas and against
// deploy/kafkaacl by TestKafkaUsersMatchLocalProfile.
func TestFieldsKnownToKubernetes(t *testing.T) {
	s := loadFieldSchema(t)
	files := manifestFiles(t) // includes site.example.yaml
	checked := 0
	for _, f := range files {
		if f == "kustomization.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			var doc yaml.Node
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			var head struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
			}
			if err := doc.Decode(&head); err != nil {
				t.Fatalf("%s#%d: %v", f, i, err)
			}
			if head.Kind == "KafkaTopic" || head.Kind == "KafkaUser" {
				continue // Strimzi kinds: checked by TestKafkaTopicsMatchSchemas and TestKafkaUsersMatchLocalProfile
			}
			ref, ok := s.Kinds[head.APIVersion+" "+head.Kind]
			if !ok {
				t.Errorf("%s#%d: %s %s is not in testdata/k8s-fields.json (add it to schemagen)", f, i, head.APIVersion, head.Kind)
				continue
			}
			var errs []string
			s.check(doc.Content[0], ref, head.Kind, &errs)
			for _, e := range errs {
				t.Errorf("%s#%d %s", f, i, e)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d documents", checked)
	}
	t.Logf("%d documents checked against %s", checked, s.Source)
}
