package stack

import (
	"regexp"
	"testing"
)

func TestParseEnvLine(t *testing.T) {
	tests := []struct {
		line, key, value string
		ok               bool
	}{
		{"PANGATE_PG_PORT=15432", "PANGATE_PG_PORT", "15432", true},
		{"export PANGATE_S3_REGION='us-east-1'", "PANGATE_S3_REGION", "us-east-1", true},
		{`A="x=y"`, "A", "x=y", true},
		{"# comment", "", "", false},
		{"", "", "", false},
		{"novalue", "", "", false},
	}
	for _, tt := range tests {
		k, v, ok := parseEnvLine(tt.line)
		if k != tt.key || v != tt.value || ok != tt.ok {
			t.Errorf("parseEnvLine(%q) = %q, %q, %v; want %q, %q, %v", tt.line, k, v, ok, tt.key, tt.value, tt.ok)
		}
	}
}

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z][a-z0-9]{2,62}$`)
	seen := map[string]bool{}
	for _, prefix := range []string{"audit", "Pangate.Audit-", "", "9lives", "averyveryveryverylongprefixthatgoesonandon"} {
		n := UniqueName(t, prefix)
		if !valid.MatchString(n) {
			t.Errorf("UniqueName(%q) = %q, not a valid topic/identifier/bucket name", prefix, n)
		}
		if seen[n] {
			t.Errorf("UniqueName(%q) = %q repeated", prefix, n)
		}
		seen[n] = true
	}
}

func TestRelated(t *testing.T) {
	if !related("TestA", "TestA/sub") || !related("TestA/sub", "TestA") || !related("TestA", "TestA") {
		t.Error("a test and its subtests must be related")
	}
	if related("TestA", "TestAB") || related("TestA/x", "TestA/y") {
		t.Error("different tests must not be related")
	}
}
