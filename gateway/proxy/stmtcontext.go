package proxy

import (
	"github.com/pangate/pangate/gateway/sqlcomment"
	"github.com/pangate/pangate/schemas"
)

// statementContext is the context a workload wrote into a statement's text (sqlcommenter-style comments:
// purpose, ticket, traceparent, thought/step ids), masked for storage and capped, for the statement's
// event (schemas.Statement.Context; docs/context.md). It reads the same text the event records and never
// changes how the statement is classified: the server drops the comments too.
func (ss *session) statementContext(text string) *schemas.StatementContext {
	return sqlcomment.Context(text, ss.srv.deps.Masker)
}

// policyContext is the policy's view of a recorded statement's context (Input.Context): exactly what
// the event holds, so a decision never rests on a value the auditor cannot see.
func policyContext(st schemas.Statement) map[string]string {
	if st.Context == nil {
		return nil
	}
	return st.Context.Values
}
