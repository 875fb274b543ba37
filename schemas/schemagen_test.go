package schemas

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite json/*.schema.json and testdata/golden.json from the Go types")

// timePattern, hashPattern, uuidPattern, timeFields and hashFields live in validate_fast.go, shared with the
// fast validator.

// jsonSchemaOf derives a JSON Schema from a Go type: members without omitempty are required, no unknown
// members are allowed, integers stay integers.
func jsonSchemaOf(t reflect.Type, name string) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonSchemaOf(t.Elem(), name)
	case reflect.String:
		s := map[string]any{"type": "string"}
		switch {
		case timeFields[name]:
			s["pattern"] = timePattern
		case hashFields[name]:
			s["pattern"] = hashPattern
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Uint64, reflect.Uint32:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Slice:
		return map[string]any{"type": []string{"array", "null"}, "items": jsonSchemaOf(t.Elem(), "")}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": jsonSchemaOf(t.Elem(), "")}
	case reflect.Struct:
		props := map[string]any{}
		required := []string{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			parts := strings.Split(tag, ",")
			if parts[0] == "" || parts[0] == "-" {
				continue
			}
			props[parts[0]] = jsonSchemaOf(f.Type, parts[0])
			if len(parts) == 1 || parts[1] != "omitempty" {
				required = append(required, parts[0])
			}
		}
		return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}
	}
	panic("schemas: no JSON Schema mapping for " + t.String())
}

func envelopeSchema() map[string]any {
	return map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  schemaBase + "envelope.schema.json",
		"title":                "pangate event envelope",
		"type":                 "object",
		"required":             []string{"v", "id", "type", "time", "session", "seq", "prev", "hash", "gateway", "data"},
		"additionalProperties": false,
		"properties": map[string]any{
			"v":       map[string]any{"const": Version},
			"id":      map[string]any{"type": "string", "pattern": uuidPattern},
			"type":    map[string]any{"enum": Types},
			"time":    map[string]any{"type": "string", "pattern": timePattern},
			"session": map[string]any{"type": "string", "minLength": 1, "maxLength": 128},
			"seq":     map[string]any{"type": "integer", "minimum": 0},
			"prev":    map[string]any{"type": "string", "pattern": hashPattern},
			"hash":    map[string]any{"type": "string", "pattern": hashPattern},
			"gateway": map[string]any{
				"type": "object", "required": []string{"instance", "version"}, "additionalProperties": false,
				"properties": map[string]any{"instance": map[string]any{"type": "string", "minLength": 1}, "version": map[string]any{"type": "string"}},
			},
			"data": map[string]any{"type": "object"},
		},
	}
}

func schemaFileContents(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	enc := func(v any) []byte {
		var buf bytes.Buffer
		e := json.NewEncoder(&buf)
		e.SetIndent("", "  ")
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	out["envelope"] = enc(envelopeSchema())
	for _, typ := range Types {
		v, _ := NewData(typ)
		s := jsonSchemaOf(reflect.TypeOf(v), "")
		s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
		s["$id"] = schemaBase + typ + ".schema.json"
		s["title"] = "data of " + typ + " events"
		out[typ] = enc(s)
	}
	return out
}

// TestSchemaFiles checks the committed JSON Schema files are what the Go types say (run with -update after
// changing a data struct).
func TestSchemaFiles(t *testing.T) {
	for name, want := range schemaFileContents(t) {
		path := filepath.Join("json", name+".schema.json")
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run: go test ./schemas -run TestSchemaFiles -update)", path, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date with the Go types: run go test ./schemas -run TestSchemaFiles -update", path)
		}
	}
}
