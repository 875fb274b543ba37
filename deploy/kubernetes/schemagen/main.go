// Command schemagen writes ../testdata/k8s-fields.json: for each Kubernetes kind the manifests use, the
// JSON field names and value kinds the API accepts, read by reflection from the k8s.io/api Go types. The
// test in deploy/kubernetes checks every manifest against it, so a misspelt or misplaced field (which the
// API server would refuse, or silently drop) fails without a cluster.
//
// It is its own module so that pangate's go.mod does not carry k8s.io/api (a large build) for a file that
// changes only with the Kubernetes version. Regenerate with:
//
//	cd deploy/kubernetes/schemagen && go run . > ../testdata/k8s-fields.json
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Schema is the file's content.
type Schema struct {
	Source string            `json:"source"`
	Kinds  map[string]string `json:"kinds"` // "apps/v1 Deployment" -> type name
	Types  map[string]*Type  `json:"types"`
}

// Type is a value kind: object (Fields: JSON name -> Type reference), list (Elem), map (Elem, string
// keys), or a scalar: string, int, bool, number, intorstring, quantity, any.
type Type struct {
	Kind   string            `json:"kind"`
	Fields map[string]string `json:"fields,omitempty"`
	Elem   string            `json:"elem,omitempty"`
}

var special = map[reflect.Type]string{
	reflect.TypeOf(resource.Quantity{}):    "quantity",
	reflect.TypeOf(intstr.IntOrString{}):   "intorstring",
	reflect.TypeOf(metav1.Time{}):          "string",
	reflect.TypeOf(metav1.MicroTime{}):     "string",
	reflect.TypeOf(metav1.Duration{}):      "string",
	reflect.TypeOf(runtime.RawExtension{}): "any",
}

type gen struct{ types map[string]*Type }

// ref returns the name of t's schema, adding it (and what it references) to g.types.
func (g *gen) ref(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := special[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "int"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Interface:
		return "any"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "string" // []byte is base64 text
		}
		name := "[]" + g.ref(t.Elem())
		if _, ok := g.types[name]; !ok {
			g.types[name] = &Type{Kind: "list", Elem: g.ref(t.Elem())}
		}
		return name
	case reflect.Map:
		name := "map[]" + g.ref(t.Elem())
		if _, ok := g.types[name]; !ok {
			g.types[name] = &Type{Kind: "map", Elem: g.ref(t.Elem())}
		}
		return name
	case reflect.Struct:
		name := t.PkgPath() + "." + t.Name()
		if _, ok := g.types[name]; ok {
			return name
		}
		typ := &Type{Kind: "object", Fields: map[string]string{}}
		g.types[name] = typ // before the fields: types may refer to themselves
		g.fields(t, typ)
		return name
	}
	panic(fmt.Sprintf("schemagen: no rule for %v", t))
}

func (g *gen) fields(t reflect.Type, typ *Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if (f.Anonymous && name == "") || strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			g.fields(ft, typ)
			continue
		}
		if name == "" {
			name = f.Name
		}
		typ.Fields[name] = g.ref(f.Type)
	}
}

func main() {
	g := &gen{types: map[string]*Type{}}
	kinds := map[string]any{
		"v1 Namespace":                           corev1.Namespace{},
		"v1 ServiceAccount":                      corev1.ServiceAccount{},
		"v1 ConfigMap":                           corev1.ConfigMap{},
		"v1 Secret":                              corev1.Secret{},
		"v1 Service":                             corev1.Service{},
		"apps/v1 Deployment":                     appsv1.Deployment{},
		"apps/v1 StatefulSet":                    appsv1.StatefulSet{},
		"batch/v1 CronJob":                       batchv1.CronJob{},
		"policy/v1 PodDisruptionBudget":          policyv1.PodDisruptionBudget{},
		"autoscaling/v2 HorizontalPodAutoscaler": autoscalingv2.HorizontalPodAutoscaler{},
	}
	s := Schema{Source: "k8s.io/api " + version(), Kinds: map[string]string{}, Types: g.types}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s.Kinds[k] = g.ref(reflect.TypeOf(kinds[k]))
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// version is the k8s.io/api module version this binary was built with.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/api" {
				return d.Version
			}
		}
	}
	return "unknown"
}
