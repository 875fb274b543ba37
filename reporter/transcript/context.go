package transcript

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pangate/pangate/schemas"
)

// contextText renders a statement's sqlcommenter context (the workload's own account of why it sent the
// statement, masked as recorded; docs/context.md) as key=value pairs in key order, with what the gateway
// left out; "" when there is none.
func contextText(c *schemas.StatementContext) string {
	if c == nil {
		return ""
	}
	keys := make([]string, 0, len(c.Values))
	for k := range c.Values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys)+3)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, c.Values[k]))
	}
	for _, n := range []struct {
		n    int64
		what string
	}{{c.Malformed, "malformed comment(s) ignored"}, {c.Dropped, "pair(s) dropped"}, {c.Truncated, "value(s) cut"}} {
		if n.n > 0 {
			parts = append(parts, fmt.Sprintf("(%d %s)", n.n, n.what))
		}
	}
	return strings.Join(parts, " ")
}
