package build

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pangate/pangate/reporter/query"
	"github.com/pangate/pangate/reporter/summary"
)

// Results of a requirement in the verdict table (docs/evidence.md "Verdicts").
const (
	ResultMet          = query.ResultMet
	ResultExceptions   = query.ResultExceptions
	ResultNotEvidenced = query.ResultNotEvidenced
)

// judgement is what one file of the package shows for the controls it is mapped to: the same entry that
// adds the file to the index adds its judgement, so the verdict table covers exactly the mapping claimed.
type judgement struct {
	file, tested, result, why string
	pci, soc2, iso            []string
}

// populationJudge is a population's own rule (query.Population.Judge) or the default one: rows in the
// period show the control operating, an empty population shows nothing either way.
func populationJudge(pop query.Population) func(cols []string) query.RowJudge {
	if pop.Judge != nil {
		return pop.Judge
	}
	return query.JudgeRows
}

// verdicts folds the judgements into one row per requirement and framework: exceptions if any file mapped
// to it has exceptions, met if any shows it operating, not evidenced otherwise.
func verdicts(js []judgement) []summary.Verdict {
	type key struct{ fw, req string }
	type acc struct {
		tested, files, whys []string
		seen                map[string]bool
		met, ex             bool
	}
	byKey := map[key]*acc{}
	var keys []key
	for _, j := range js {
		for _, m := range []struct {
			fw   string
			reqs []string
		}{{"PCI DSS v4.0.1", j.pci}, {"SOC 2", j.soc2}, {"ISO/IEC 27001:2022", j.iso}} {
			for _, r := range m.reqs {
				k := key{m.fw, r}
				a := byKey[k]
				if a == nil {
					a = &acc{seen: map[string]bool{}}
					byKey[k] = a
					keys = append(keys, k)
				}
				if !a.seen[j.file] {
					a.seen[j.file] = true
					a.files = append(a.files, j.file)
					a.tested = append(a.tested, j.tested)
					a.whys = append(a.whys, j.file+": "+j.result+" ("+j.why+")")
				}
				a.met = a.met || j.result == ResultMet
				a.ex = a.ex || j.result == ResultExceptions
			}
		}
	}
	fwOrder := map[string]int{"PCI DSS v4.0.1": 0, "SOC 2": 1, "ISO/IEC 27001:2022": 2}
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].fw != keys[j].fw {
			return fwOrder[keys[i].fw] < fwOrder[keys[j].fw]
		}
		return reqLess(keys[i].req, keys[j].req)
	})
	out := make([]summary.Verdict, 0, len(keys))
	for _, k := range keys {
		a := byKey[k]
		res := ResultNotEvidenced
		switch {
		case a.ex:
			res = ResultExceptions
		case a.met:
			res = ResultMet
		}
		out = append(out, summary.Verdict{Framework: k.fw, Requirement: k.req, Tested: strings.Join(a.tested, " | "),
			Files: strings.Join(a.files, " "), Result: res, Why: strings.Join(a.whys, "; ")})
	}
	return out
}

// reqLess orders requirement ids numerically part by part (10.2.1.10 after 10.2.1.9, 8.6.1 before 10.2),
// and names such as CC6.1 or A.8.15 by their prefix first.
func reqLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		switch {
		case ea == nil && eb == nil && na != nb:
			return na < nb
		case (ea != nil || eb != nil) && pa[i] != pb[i]:
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}

// verdictTable is verdicts.csv.
func verdictTable(vs []summary.Verdict) *query.Table {
	t := &query.Table{Columns: []string{"framework", "requirement", "tested", "files", "result", "why"}}
	for _, v := range vs {
		t.Rows = append(t.Rows, []string{v.Framework, v.Requirement, v.Tested, v.Files, v.Result, v.Why})
	}
	return t
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
