package schemas

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func words[T ~string](ws []T) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = string(w)
	}
	return out
}

// memberComment returns the line comment of the member of struct typ whose JSON name is member, in data.go.
func memberComment(t *testing.T, typ, member string) string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "data.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var out *string
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != typ {
			return true
		}
		for _, fld := range ts.Type.(*ast.StructType).Fields.List {
			if fld.Tag == nil || fld.Comment == nil {
				continue
			}
			tag := reflect.StructTag(strings.Trim(fld.Tag.Value, "`")).Get("json")
			if name, _, _ := strings.Cut(tag, ","); name == member {
				s := strings.TrimSpace(fld.Comment.Text())
				out = &s
			}
		}
		return false
	})
	if out == nil {
		t.Fatalf("data.go: %s has no member %q with a comment", typ, member)
	}
	return *out
}

// schemaEnum returns the enum of the property at path (property names, nested objects) of json/file, and
// whether it has one.
func schemaEnum(t *testing.T, file string, path ...string) ([]string, bool) {
	t.Helper()
	b, err := os.ReadFile("json/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var node map[string]any
	if err := json.Unmarshal(b, &node); err != nil {
		t.Fatalf("json/%s: %v", file, err)
	}
	for _, p := range path {
		props, _ := node["properties"].(map[string]any)
		next, ok := props[p].(map[string]any)
		if !ok {
			t.Fatalf("json/%s has no property %s (path %v)", file, p, path)
		}
		node = next
	}
	raw, ok := node["enum"].([]any)
	if !ok {
		return nil, false
	}
	var out []string
	for _, v := range raw {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out, true
}

// TestOutcomeWordsMatchSchema: the Go constants of outcomes.go are the words the event definitions allow —
// the JSON Schema enum where the member has one, else the list in the member's comment in data.go — and
// every example event (the golden vectors) uses one of them.
func TestOutcomeWordsMatchSchema(t *testing.T) {
	decided := slices.DeleteFunc(slices.Clone(ApprovalOutcomes), func(o ApprovalOutcome) bool { return o == OutcomeExpired })
	cases := []struct {
		typ, goType string
		path        []string
		words       []string
		value       func(data any) string // the member's value in Example(typ)
	}{
		{TypeSessionEnded, "SessionEnded", []string{"reason"}, words(EndReasons),
			func(d any) string { return d.(*SessionEnded).Reason }},
		{TypeQueryBlocked, "QueryBlocked", []string{"reason"}, words(BlockReasons),
			func(d any) string { return d.(*QueryBlocked).Reason }},
		{TypeQueryBlocked, "ApprovalRef", []string{"approval", "decision"}, words(ApprovalOutcomes),
			func(d any) string { return d.(*QueryBlocked).Approval.Decision }},
		{TypeApprovalDecided, "ApprovalDecided", []string{"decision"}, words(decided),
			func(d any) string { return d.(*ApprovalDecided).Decision }},
		{TypeCredentialRevoked, "CredentialRevoked", []string{"reason"}, words(RevokeReasons),
			func(d any) string { return d.(*CredentialRevoked).Reason }},
	}
	for _, c := range cases {
		t.Run(c.goType+"."+strings.Join(c.path, "."), func(t *testing.T) {
			if enum, ok := schemaEnum(t, c.typ+".schema.json", c.path...); ok {
				if !slices.Equal(enum, c.words) {
					t.Errorf("json/%s.schema.json enum %v, Go constants %v", c.typ, enum, c.words)
				}
			} else {
				doc := memberComment(t, c.goType, c.path[len(c.path)-1])
				if got := strings.Split(doc, ", "); !slices.Equal(got, c.words) {
					t.Errorf("data.go documents %s.%s as %q, Go constants %v: change one to match the other", c.goType, c.path[len(c.path)-1], doc, c.words)
				}
			}
			d, err := Example(c.typ)
			if err != nil {
				t.Fatal(err)
			}
			if v := c.value(d); !slices.Contains(c.words, v) {
				t.Errorf("the example %s carries %q, not one of %v", c.typ, v, c.words)
			}
		})
	}
	if got := BlockedByApproval(OutcomeDenied); got != BlockApprovalDenied {
		t.Errorf("BlockedByApproval(denied) = %q, want %q", got, BlockApprovalDenied)
	}
}
