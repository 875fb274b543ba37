package schemas

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemaFiles holds the JSON Schema (draft 2020-12) of the envelope (json/envelope.schema.json) and of each
// event type's data (json/<type>.schema.json). They are generated from the Go types by
// `go test ./schemas -run TestSchemaFiles -update` and checked against them by the same test.
//
//go:embed json/*.schema.json
var SchemaFiles embed.FS

// ErrInvalid is matched (errors.Is) by every validation failure.
var ErrInvalid = errors.New("schemas: event does not match its JSON Schema")

const schemaBase = "https://pangate.dev/schemas/"

var compiled struct {
	once     sync.Once
	err      error
	envelope *jsonschema.Schema
	data     map[string]*jsonschema.Schema
}

func compile() {
	c := jsonschema.NewCompiler()
	files := append([]string{"envelope"}, Types...)
	for _, name := range files {
		b, err := SchemaFiles.ReadFile("json/" + name + ".schema.json")
		if err != nil {
			compiled.err = fmt.Errorf("schemas: missing schema file for %s: %w", name, err)
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			compiled.err = fmt.Errorf("schemas: schema file for %s: %w", name, err)
			return
		}
		if err := c.AddResource(schemaBase+name+".schema.json", doc); err != nil {
			compiled.err = err
			return
		}
	}
	compiled.data = make(map[string]*jsonschema.Schema, len(Types))
	for _, name := range files {
		s, err := c.Compile(schemaBase + name + ".schema.json")
		if err != nil {
			compiled.err = fmt.Errorf("schemas: compile schema for %s: %w", name, err)
			return
		}
		if name == "envelope" {
			compiled.envelope = s
		} else {
			compiled.data[name] = s
		}
	}
}

// Validate checks one Kafka record value against the envelope schema and the schema of its type's data.
// It does not check the hash (VerifyEvent) or the chain (VerifySession).
//
// Records the fast table-driven check accepts (validate_fast.go) skip the JSON Schema engine; every other
// record is judged, and its error worded, by the compiled JSON Schemas.
func Validate(record []byte) error {
	compiled.once.Do(compile)
	if compiled.err != nil {
		return compiled.err
	}
	if fastValid(record) {
		return nil
	}
	return validateSchema(record)
}

// validateSchema is Validate by the compiled JSON Schemas alone: the fallback of Validate and the
// reference of its differential tests.
func validateSchema(record []byte) error {
	compiled.once.Do(compile)
	if compiled.err != nil {
		return compiled.err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(record))
	if err != nil {
		return fmt.Errorf("%w: not JSON: %v", ErrInvalid, err)
	}
	if err := compiled.envelope.Validate(doc); err != nil {
		return fmt.Errorf("%w: envelope: %s", ErrInvalid, oneLine(err))
	}
	m := doc.(map[string]any)
	typ, _ := m["type"].(string)
	s, ok := compiled.data[typ]
	if !ok {
		return fmt.Errorf("%w: %w %q", ErrInvalid, ErrUnknownType, typ)
	}
	if err := s.Validate(m["data"]); err != nil {
		return fmt.Errorf("%w: data of %s: %s", ErrInvalid, typ, oneLine(err))
	}
	return nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
