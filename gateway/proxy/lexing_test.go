package proxy

import (
	"strings"
	"testing"

	"github.com/pangate/pangate/gateway/classify"
)

func TestCheckStartupParams(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		refuse string // substring of the refusal; "" = accepted
	}{
		// What real drivers send.
		{map[string]string{"user": "r@t", "database": "d", "application_name": "psql", "client_encoding": "UTF8"}, ""},
		{map[string]string{"user": "r@t", "database": "d", "client_encoding": "UTF8", "DateStyle": "ISO", "TimeZone": "UTC", "extra_float_digits": "2", "application_name": "PostgreSQL JDBC Driver"}, ""},
		{map[string]string{"user": "r@t", "search_path": "app", "IntervalStyle": "iso_8601"}, ""},
		{map[string]string{"user": "r@t", "client_encoding": "utf-8"}, ""},
		{map[string]string{"user": "r@t", "client_encoding": "LATIN1"}, ""},
		// Lexing and identity.
		{map[string]string{"user": "r@t", "standard_conforming_strings": "off"}, `"standard_conforming_strings"`},
		{map[string]string{"user": "r@t", "client_encoding": "SJIS"}, `client_encoding "SJIS"`},
		{map[string]string{"user": "r@t", "client_encoding": "gbk"}, `client_encoding "gbk"`},
		{map[string]string{"user": "r@t", "client_encoding": "BIG5"}, `client_encoding "BIG5"`},
		{map[string]string{"user": "r@t", "client_encoding": "Shift_JIS_2004"}, "client_encoding"},
		{map[string]string{"user": "r@t", "client_encoding": "win932"}, "client_encoding"},
		{map[string]string{"user": "r@t", "options": "-c standard_conforming_strings=off"}, `"options"`},
		{map[string]string{"user": "r@t", "role": "app_writer"}, `"role"`},
		{map[string]string{"user": "r@t", "session_authorization": "postgres"}, `"session_authorization"`},
		{map[string]string{"user": "r@t", "_pq_.x": "1"}, `"_pq_.x"`},
		{map[string]string{"user": "r@t", "replication": "database"}, "replication"},
	} {
		got := checkStartupParams(tc.params)
		if (tc.refuse == "") != (got == "") || !strings.Contains(got, tc.refuse) {
			t.Errorf("checkStartupParams(%v) = %q, want refusal containing %q", tc.params, got, tc.refuse)
		}
	}
}

func TestSettingRefusal(t *testing.T) {
	for _, tc := range []struct {
		sql    string
		refuse bool
	}{
		{"SET client_encoding TO 'SJIS'", true},
		{"SET NAMES 'GBK'", true},
		{"SELECT set_config('client_encoding', 'BIG5', false)", true},
		{"SELECT set_config('client_' || 'encoding', 'SJIS', false)", true},
		{"SELECT set_config(current_setting('x.y'), 'off', false)", true},
		{"SET standard_conforming_strings = off", true},
		{"SET LOCAL standard_conforming_strings TO false", true},
		{"SELECT set_config('standard_conforming_strings', 'off', true)", true},
		{"SET client_encoding TO 'UTF8'", false},
		{"SET NAMES 'LATIN1'", false},
		{"RESET client_encoding", false},
		{"SET client_encoding TO DEFAULT", false},
		{"RESET ALL", false},
		{"SET standard_conforming_strings = on", false},
		{"SET search_path = app", false},
		{"SELECT 1", false},
	} {
		cls := classify.Classify(tc.sql)
		if len(cls) != 1 {
			t.Fatalf("%q: %d statements", tc.sql, len(cls))
		}
		if got := settingRefusal(cls[0]); (got != "") != tc.refuse {
			t.Errorf("settingRefusal(%q) = %q, want refused=%v", tc.sql, got, tc.refuse)
		}
	}
}

func TestLexingStatus(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		bad         bool
	}{
		{"client_encoding", "UTF8", false},
		{"client_encoding", "SJIS", true},
		{"client_encoding", "GB18030", true},
		{"standard_conforming_strings", "on", false},
		{"standard_conforming_strings", "off", true},
		{"TimeZone", "UTC", false},
	} {
		if got := lexingStatus(tc.name, tc.value); (got != "") != tc.bad {
			t.Errorf("lexingStatus(%s=%s) = %q, want bad=%v", tc.name, tc.value, got, tc.bad)
		}
	}
	if !lexNeutral("SELECT 1 FROM t WHERE a = 'x'") || lexNeutral(`SELECT 'a\'`) || lexNeutral("SELECT 'é'") {
		t.Error("lexNeutral misjudges plain ASCII, backslashes or non-ASCII")
	}
}
