package soundness_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Statements whose meaning depends on lexing state the gateway must share with PostgreSQL (issue 11, root
// cause 2). Each is harmless as the gateway lexes it (standard_conforming_strings on, UTF-8) and an
// UPDATE of every marker row (held by the policy) as PostgreSQL lexes it after the attack changed the
// setting. Sent after every attempt: the marker table must stay untouched.

// scsAttack: with standard_conforming_strings off, \' ends nothing and the literal closes one quote earlier.
func scsAttack(f *fixture) string {
	return fmt.Sprintf(`SELECT 'x\''; UPDATE %s SET v = %d; --'`, f.Marker, evil)
}

// encAttack: lead is a multibyte lead byte whose trail byte is 0x5c ('\') in the attacked encoding (0x95 in
// SJIS and GBK, 0xA4 in BIG5): PostgreSQL reads one character, a UTF-8 lexer reads a backslash that
// escapes the closing quote.
func encAttack(f *fixture, lead byte) string {
	return "SELECT E'" + string([]byte{lead, 0x5c}) + fmt.Sprintf("'; UPDATE %s SET v = %d; --'", f.Marker, evil)
}

// sendLexingAttacks sends every crafted statement on w and records gateway refusals.
func sendLexingAttacks(t *testing.T, w *wire, p *probe, f *fixture) {
	t.Helper()
	for _, q := range []string{scsAttack(f), encAttack(f, 0x95), encAttack(f, 0xA4)} {
		ms := w.Query(q)
		if ms[len(ms)-1].Type == "Closed" {
			return // the gateway ended the session: nothing more runs in it
		}
		notRunIfRefused(p, ms, fmt.Sprintf("UPDATE %s SET v = %d", f.Marker, evil))
		for _, tag := range tags(ms) {
			if strings.HasPrefix(tag, "UPDATE") {
				t.Errorf("the lexing attack %q ran an UPDATE (%s): the gateway and PostgreSQL lexed it differently", q, tag)
			}
		}
	}
}

// TestStartupParameters: startup parameters are an allow-list. Parameters that change lexing
// (standard_conforming_strings, client encodings whose characters can contain '\' or ”'), options (which
// can set anything), role and session_authorization are refused with a FATAL naming the parameter; the
// parameters real drivers send are accepted and reach PostgreSQL.
func TestStartupParameters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := startGateway(t, f, gwOpts{})
	for _, c := range []struct {
		name, param string
		params      map[string]string
	}{
		{"StandardConformingStringsOff", "standard_conforming_strings", map[string]string{"standard_conforming_strings": "off"}},
		{"ClientEncodingSJIS", "client_encoding", map[string]string{"client_encoding": "SJIS"}},
		{"ClientEncodingGBK", "client_encoding", map[string]string{"client_encoding": "GBK"}},
		{"ClientEncodingBIG5", "client_encoding", map[string]string{"client_encoding": "BIG5"}},
		{"OptionsSCS", "options", map[string]string{"options": "-c standard_conforming_strings=off"}},
		{"OptionsEncoding", "options", map[string]string{"options": "-c client_encoding=SJIS"}},
		{"OptionsRole", "options", map[string]string{"options": "-c role=" + f.Other}},
		{"Role", "role", map[string]string{"role": f.Other}},
		{"SessionAuthorization", "session_authorization", map[string]string{"session_authorization": f.Other}},
		{"Backslash", "backslash_quote", map[string]string{"backslash_quote": "on"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			off := logOffset(t, f)
			w, fatal := dialWire(t, g, f.Role, c.params)
			if fatal != nil {
				t.Logf("refused: %s %s", fatal.Code, fatal.Message)
				if !fatal.Fatal || !strings.Contains(fatal.Message, c.param) {
					t.Errorf("startup with %v refused with %v; want a FATAL naming %q", c.params, *fatal, c.param)
				}
				return
			}
			t.Errorf("startup with %v was accepted; want a FATAL naming %q", c.params, c.param)
			p := w.probe(c.name)
			sendLexingAttacks(t, w, p, f)
			w.Query(fmt.Sprintf("INSERT INTO %s DEFAULT VALUES", f.Who))
			w.Close()
			if n := f.touched(t); n > 0 {
				t.Errorf("%d marker rows changed: with %v the gateway and PostgreSQL lex differently", n, c.params)
			}
			checkWho(t, f)
			checkAudit(t, g, f, off, p)
		})
	}
	t.Run("AllowedParameters", func(t *testing.T) {
		off := logOffset(t, f)
		want := map[string]string{"application_name": "h2-soundness", "DateStyle": "ISO, DMY", "IntervalStyle": "iso_8601",
			"TimeZone": "Asia/Tokyo", "extra_float_digits": "3", "search_path": "public", "client_encoding": "UTF8"}
		w := connect(t, g, f.Role, want)
		p := w.probe("AllowedParameters")
		for k, v := range want {
			ms := w.Query("SHOW " + k)
			got := ""
			for _, m := range ms {
				if m.Type == "DataRow" {
					got = m.Values[0]
				}
			}
			if got != v {
				t.Errorf("startup %s=%q: PostgreSQL has %q (%v)", k, v, got, ms)
			}
		}
		w.Close()
		checkAudit(t, g, f, off, p)
	})
}

// TestSessionLexingSettings: no statement may leave the session lexing differently in the gateway and in
// PostgreSQL: every form of SET of client_encoding and standard_conforming_strings, set_config, the
// pg_settings view, SET LOCAL, the extended protocol, and a function that changes the encoding internally.
func TestSessionLexingSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := startGateway(t, f, gwOpts{})
	fn := f.name("enc")
	f.exec(t, fmt.Sprintf(`CREATE FUNCTION %s() RETURNS text LANGUAGE plpgsql AS $f$ BEGIN PERFORM set_config('client_encoding', 'SJIS', false); RETURN 'x'; END $f$`, fn),
		fmt.Sprintf("GRANT EXECUTE ON FUNCTION %s() TO %s", fn, f.Role))
	simple := func(qs ...string) func(t *testing.T, w *wire, p *probe) {
		return func(t *testing.T, w *wire, p *probe) {
			for _, q := range qs {
				w.Query(q)
			}
			sendLexingAttacks(t, w, p, f)
		}
	}
	runVariants(t, g, f, []variant{
		{name: "SetClientEncodingSJIS", run: simple("SET client_encoding TO 'SJIS'")},
		{name: "SetNamesGBK", run: simple("SET NAMES 'GBK'")},
		{name: "SetClientEncodingBIG5", run: simple("SET client_encoding = 'BIG5'")},
		{name: "SetConfigClientEncoding", run: simple("SELECT set_config('client_encoding', 'SJIS', false)")},
		{name: "SetConfigQualified", run: simple("SELECT pg_catalog.set_config('client_encoding', 'SJIS', false)")},
		{name: "SetStandardConformingStringsOff", run: simple("SET standard_conforming_strings = off")},
		{name: "SetSessionSCS", run: simple("SET SESSION standard_conforming_strings TO off")},
		{name: "SetConfigSCS", run: simple("SELECT set_config('standard_conforming_strings', 'off', false)")},
		{name: "UpdatePgSettings", run: simple("UPDATE pg_settings SET setting = 'SJIS' WHERE name = 'client_encoding'")},
		{name: "SetLocalInTransaction", run: simple("BEGIN", "SET LOCAL client_encoding TO 'SJIS'")},
		{name: "FunctionSetsEncoding", run: simple(fmt.Sprintf("SELECT %s()", fn))},
		{name: "ExtendedProtocolSet", run: func(t *testing.T, w *wire, p *probe) {
			w.Batch(parse("", "SET client_encoding TO 'SJIS'"), bind("", ""), execute(""))
			w.Batch(parse("", "SET standard_conforming_strings TO off"), bind("", ""), &pgproto3.Execute{})
			sendLexingAttacks(t, w, p, f)
		}},
	})
}
