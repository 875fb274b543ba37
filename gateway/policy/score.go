package policy

import "github.com/pangate/pangate/gateway/classify"

// Score weight keys that are not risk tags.
const (
	WeightCardholder = "cardholder" // the statement touched cardholder data
	WeightHuman      = "human"      // a person is using a workload identity (PCI DSS 10.2.1.2)
	WeightWrite      = "write"      // the statement's kind is write
	WeightTable      = "table"      // per table touched beyond the first (at most four counted)
)

// DefaultWeights are the risk score weights; a policy's `weights:` section overrides single entries.
// A statement's score is the sum of the weights of its tags, plus cardholder, human and write when they
// apply, plus table × (tables touched − 1, at most 4). The score is not capped.
var DefaultWeights = map[string]int{
	classify.TagNoWhere:        40,
	classify.TagDDL:            30,
	classify.TagRoleChange:     50,
	classify.TagCopyOut:        20,
	classify.TagCopyIn:         10,
	classify.TagCopyProgram:    100,
	classify.TagExternalAccess: 100,
	classify.TagSetRole:        80,
	classify.TagAdminSetting:   80,
	classify.TagAdminFunction:  50,
	classify.TagDynamicSQL:     40,
	classify.TagMultiStatement: 10,
	classify.TagUnparseable:    50,
	classify.TagTruncate:       50,
	classify.TagDrop:           40,
	classify.TagSelectInto:     20,
	classify.TagSearchPath:     10,
	classify.TagDataModifying:  20,
	WeightCardholder:           30,
	WeightHuman:                20,
	WeightWrite:                10,
	WeightTable:                5,
}

// Score returns the risk score of in under this policy's weights.
func (p *Policy) Score(in Input) int {
	w := p.weights
	if w == nil {
		w = DefaultWeights
	}
	s := 0
	for _, t := range in.Statement.Tags {
		s += w[t]
	}
	if in.Cardholder {
		s += w[WeightCardholder]
	}
	if in.Identity.Human {
		s += w[WeightHuman]
	}
	if in.Statement.Kind == classify.KindWrite {
		s += w[WeightWrite]
	}
	if n := len(in.Statement.Tables) - 1; n > 0 {
		s += w[WeightTable] * min(n, 4)
	}
	return s
}
