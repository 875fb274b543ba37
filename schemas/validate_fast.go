package schemas

import (
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
)

// Fast acceptance for Validate. The JSON Schema files are generated from the Go types by fixed rules
// (schemagen_test.go: members without omitempty are required, no unknown members, integers stay integers,
// patterns for time and hash members, slices may be null). fastSchemaOf applies the same rules to build
// a small table per type once, and fastValid walks a scanned record against it.
//
// The fast path only ever says "valid": anything it does not accept — including inputs it cannot judge
// cheaply, such as escaped keys, invalid UTF-8 or numbers like 1.0 that JSON Schema counts as integers —
// goes to the compiled JSON Schema, which decides and words the error. So a record is accepted by the fast
// path only if every value the schema looks at was checked against a rule at least as strict as the
// schema's, and rejections (and their messages) are exactly the schema's.

// Patterns and pattern-bearing member names of the generated schemas.
const (
	timePattern = `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$`
	hashPattern = `^[0-9a-f]{64}$`
	uuidPattern = `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
)

// timeFields and hashFields get a pattern in every struct that has them.
var (
	timeFields = map[string]bool{"valid_until": true, "issued_at": true, "token_expiry": true, "expires": true, "from": true, "to": true, "last_time": true}
	hashFields = map[string]bool{"prev": true, "hash": true, "policy_hash": true, "config_hash": true, "manifest_hash": true, "last_hash": true}
)

type fkind uint8

const (
	fString fkind = iota + 1
	fBool
	fInt  // any integer
	fUint // integer >= 0
	fArray
	fMap
	fStruct
)

// fschema is one node of a fast validation table.
type fschema struct {
	kind    fkind
	pattern func([]byte) bool // fString: nil, matchTime or matchHash
	elem    *fschema          // fArray items (the array may also be null), fMap values
	fields  []ffield          // fStruct
	need    uint64            // fStruct: bit i set when fields[i] is required
}

type ffield struct {
	name string
	s    *fschema
}

// fastSchemaOf mirrors jsonSchemaOf in schemagen_test.go; TestFastTablesMatchSchemaFiles renders every table
// back to JSON Schema and compares it with the committed files.
func fastSchemaOf(t reflect.Type, name string) *fschema {
	switch t.Kind() {
	case reflect.Pointer:
		return fastSchemaOf(t.Elem(), name)
	case reflect.String:
		s := &fschema{kind: fString}
		switch {
		case timeFields[name]:
			s.pattern = matchTime
		case hashFields[name]:
			s.pattern = matchHash
		}
		return s
	case reflect.Bool:
		return &fschema{kind: fBool}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return &fschema{kind: fInt}
	case reflect.Uint64, reflect.Uint32:
		return &fschema{kind: fUint}
	case reflect.Slice:
		return &fschema{kind: fArray, elem: fastSchemaOf(t.Elem(), "")}
	case reflect.Map:
		return &fschema{kind: fMap, elem: fastSchemaOf(t.Elem(), "")}
	case reflect.Struct:
		s := &fschema{kind: fStruct}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			parts := strings.Split(f.Tag.Get("json"), ",")
			if parts[0] == "" || parts[0] == "-" {
				continue
			}
			if len(parts) == 1 || parts[1] != "omitempty" {
				s.need |= 1 << len(s.fields)
			}
			s.fields = append(s.fields, ffield{name: parts[0], s: fastSchemaOf(f.Type, parts[0])})
		}
		if len(s.fields) > 64 {
			panic("schemas: more than 64 members in " + t.String())
		}
		return s
	}
	panic("schemas: no JSON Schema mapping for " + t.String())
}

var fastTables struct {
	once sync.Once
	data map[string]*fschema
}

func loadFastTables() {
	fastTables.data = make(map[string]*fschema, len(dataTypes))
	for typ, mk := range dataTypes {
		fastTables.data[typ] = fastSchemaOf(reflect.TypeOf(mk()), "")
	}
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLowHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') }

// matchTime is timePattern.
func matchTime(s []byte) bool {
	const shape = "dddd-dd-ddTdd:dd:dd.ddddddZ"
	if len(s) != len(shape) {
		return false
	}
	for i := 0; i < len(shape); i++ {
		if shape[i] == 'd' {
			if !isDigit(s[i]) {
				return false
			}
		} else if s[i] != shape[i] {
			return false
		}
	}
	return true
}

// matchHash is hashPattern.
func matchHash(s []byte) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !isLowHex(c) {
			return false
		}
	}
	return true
}

// matchUUID is uuidPattern.
func matchUUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isLowHex(c) {
			return false
		}
	}
	return true
}

// fastValidator walks a scanned record.
type fastValidator struct {
	doc   []byte
	nodes []jnode
}

// plainString returns the content of string node i if it has no escapes (so the raw bytes are the value).
func (v *fastValidator) plainString(i int32) ([]byte, bool) {
	n := &v.nodes[i]
	if n.kind != kString || n.esc {
		return nil, false
	}
	return v.doc[n.start+1 : n.end-1], true
}

// plainInteger reports whether number node i is written as a plain integer, non-negative if unsigned.
func (v *fastValidator) plainInteger(i int32, unsigned bool) bool {
	n := &v.nodes[i]
	if n.kind != kNumber {
		return false
	}
	lit := v.doc[n.start:n.end]
	if unsigned && lit[0] == '-' {
		return false
	}
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return false
		}
	}
	return true
}

func (v *fastValidator) check(i int32, s *fschema) bool {
	n := &v.nodes[i]
	switch s.kind {
	case fString:
		if n.kind != kString {
			return false
		}
		if s.pattern == nil {
			return true
		}
		str, ok := v.plainString(i)
		return ok && s.pattern(str)
	case fBool:
		return n.kind == kTrue || n.kind == kFalse
	case fInt:
		return v.plainInteger(i, false)
	case fUint:
		return v.plainInteger(i, true)
	case fArray:
		if n.kind == kNull {
			return true
		}
		if n.kind != kArray {
			return false
		}
		for c := i + 1; c < n.next; c = v.nodes[c].next {
			if !v.check(c, s.elem) {
				return false
			}
		}
		return true
	case fMap:
		if n.kind != kObject {
			return false
		}
		for k := i + 1; k < n.next; k = v.nodes[k+1].next {
			if !v.check(k+1, s.elem) {
				return false
			}
		}
		return true
	case fStruct:
		if n.kind != kObject {
			return false
		}
		var seen uint64
		for k := i + 1; k < n.next; k = v.nodes[k+1].next {
			key, ok := v.plainString(k)
			if !ok {
				return false
			}
			j := s.field(key)
			if j < 0 || !v.check(k+1, s.fields[j].s) {
				return false
			}
			seen |= 1 << j
		}
		return seen&s.need == s.need
	}
	return false
}

func (s *fschema) field(key []byte) int {
	for j := range s.fields {
		if s.fields[j].name == string(key) {
			return j
		}
	}
	return -1
}

// envelope member bits, in the order of the envelope schema's "required".
var envelopeMembers = [...]string{"v", "id", "type", "time", "session", "seq", "prev", "hash", "gateway", "data"}

// fastValid reports whether record is certainly valid: true means the JSON Schemas accept it; false
// means "ask the JSON Schemas".
func fastValid(record []byte) bool {
	if !utf8.Valid(record) {
		return false
	}
	sc := scratchPool.Get().(*scratch)
	defer putScratch(sc)
	nodes, err := scanJSON(record, true, sc.nodes)
	sc.nodes = nodes[:0]
	if err != nil || nodes[0].kind != kObject {
		return false
	}
	fastTables.once.Do(loadFastTables)
	v := fastValidator{doc: record, nodes: nodes}
	return v.envelope()
}

// envelope checks the scanned record against the envelope and its type's data table.
func (v *fastValidator) envelope() bool {
	record, nodes := v.doc, v.nodes
	var seen uint32
	var data *fschema
	dataNode := int32(-1)
	for k := int32(1); k < nodes[0].next; k = nodes[k+1].next {
		key, ok := v.plainString(k)
		if !ok {
			return false
		}
		val := k + 1
		bit := -1
		for j, name := range envelopeMembers {
			if name == string(key) {
				bit = j
				break
			}
		}
		if bit < 0 {
			return false
		}
		seen |= 1 << bit
		switch key := string(key); key {
		case "v":
			n := &nodes[val]
			if n.kind != kNumber || string(record[n.start:n.end]) != "1" {
				return false
			}
		case "id":
			s, ok := v.plainString(val)
			if !ok || !matchUUID(s) {
				return false
			}
		case "type":
			s, ok := v.plainString(val)
			if !ok {
				return false
			}
			d := fastTables.data[string(s)]
			if d == nil || (data != nil && d != data) {
				return false
			}
			data = d
		case "time":
			s, ok := v.plainString(val)
			if !ok || !matchTime(s) {
				return false
			}
		case "session":
			s, ok := v.plainString(val)
			if !ok {
				return false
			}
			if n := utf8.RuneCount(s); n < 1 || n > 128 {
				return false
			}
		case "seq":
			if !v.plainInteger(val, true) {
				return false
			}
		case "prev", "hash":
			s, ok := v.plainString(val)
			if !ok || !matchHash(s) {
				return false
			}
		case "gateway":
			if !v.check(val, gatewaySchema) {
				return false
			}
		case "data":
			if nodes[val].kind != kObject || dataNode >= 0 {
				return false
			}
			dataNode = val
		}
	}
	if seen != 1<<len(envelopeMembers)-1 || data == nil {
		return false
	}
	return v.check(dataNode, data)
}

// gatewaySchema is the envelope's "gateway" member: instance (a non-empty string) and version.
var gatewaySchema = &fschema{kind: fStruct, need: 3, fields: []ffield{
	{name: "instance", s: &fschema{kind: fString, pattern: func(s []byte) bool { return len(s) > 0 }}},
	{name: "version", s: &fschema{kind: fString}},
}}
