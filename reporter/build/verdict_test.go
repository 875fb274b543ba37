package build

import (
	"strings"
	"testing"
)

func TestVerdictsFoldFilesPerRequirement(t *testing.T) {
	js := []judgement{
		{file: "a.csv", tested: "A", result: ResultMet, why: "3 rows", pci: []string{"10.2.1.1", "10.2.2"}, soc2: []string{"CC6.1"}},
		{file: "b.csv", tested: "B", result: ResultNotEvidenced, why: "empty", pci: []string{"10.2.2", "10.2.1.10"}},
		{file: "c.csv", tested: "C", result: ResultExceptions, why: "2 rows", pci: []string{"10.2.1.1", "8.6.1"}, iso: []string{"A.8.15"}},
	}
	var got []string
	for _, v := range verdicts(js) {
		got = append(got, v.Framework+" "+v.Requirement+"="+v.Result+" ["+v.Files+"]")
	}
	want := []string{
		"PCI DSS v4.0.1 8.6.1=exceptions [c.csv]",
		"PCI DSS v4.0.1 10.2.1.1=exceptions [a.csv c.csv]",
		"PCI DSS v4.0.1 10.2.1.10=not evidenced [b.csv]",
		"PCI DSS v4.0.1 10.2.2=met [a.csv b.csv]",
		"SOC 2 CC6.1=met [a.csv]",
		"ISO/IEC 27001:2022 A.8.15=exceptions [c.csv]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("verdicts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
