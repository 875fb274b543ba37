package policy

import (
	"sync"

	"github.com/pangate/pangate/gateway/sqlcomment"
	"github.com/pangate/pangate/internal/mask"
)

// checkMasker masks context values for `policy check` as a gateway with the default mask config would.
var checkMasker = sync.OnceValue(func() *mask.Masker {
	m, err := mask.New(mask.Config{})
	if err != nil {
		panic("policy: default mask config refused: " + err.Error())
	}
	return m
})

// statementContext is the context variable a gateway would give a statement with this text: its
// sqlcommenter-style comments, masked and capped (gateway/sqlcomment; docs/context.md).
func statementContext(text string) map[string]string {
	if c := sqlcomment.Context(text, checkMasker()); c != nil {
		return c.Values
	}
	return nil
}
