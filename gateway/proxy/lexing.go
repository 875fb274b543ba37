package proxy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pangate/pangate/gateway/classify"
)

// The gateway classifies SQL text with PostgreSQL's own lexer assuming what the server assumes: the
// client encoding is one whose multibyte characters never contain ASCII bytes, and
// standard_conforming_strings is on. Were either to differ, the same bytes could split into different
// statements for the gateway and for PostgreSQL (docs/invariants.md, invariant 0). So:
//   - startup parameters are an allow-list (startupParams); client_encoding must be ASCII-safe;
//     standard_conforming_strings=on is always sent upstream, which makes it the session's reset value;
//   - every SET form, set_config and RESET of client_encoding or standard_conforming_strings is checked
//     before it is forwarded (settingRefusal);
//   - every ParameterStatus the server sends is checked (lexingStatus): a function or trigger that
//     changed a setting behind the gateway's back ends the session before its next text is read;
//   - after a statement that may run such code, the next query text waits for the server's answer
//     (pgstate.Model.Lexing) or, within the same extended-protocol batch, must be plain ASCII without
//     backslashes, which every ASCII-compatible encoding and both string settings read alike.

// startupParams are the startup parameters forwarded upstream (lower-cased names): what psql, pgbench,
// pgx, psycopg and the JDBC driver send, and settings that do not change lexing or identity. Any other
// parameter — options, role, session_authorization, standard_conforming_strings, _pq_.* — is refused
// with a FATAL that names it.
var startupParams = map[string]bool{
	"user": true, "database": true, "application_name": true, "client_encoding": true,
	"datestyle": true, "intervalstyle": true, "timezone": true, "extra_float_digits": true,
	"search_path": true, "lc_monetary": true, "lc_numeric": true, "lc_time": true,
	"bytea_output": true, "statement_timeout": true, "lock_timeout": true,
	"idle_in_transaction_session_timeout": true, "geqo": true,
}

// safeEncodings are PostgreSQL's encoding names (as its clean_encoding_name writes them: lower case,
// letters and digits only) of every encoding whose multibyte sequences use only bytes >= 0x80. The
// client-only encodings SJIS, SHIFT_JIS_2004, BIG5, GBK, UHC, GB18030 and JOHAB (and their aliases
// mskanji, win932, win936, win949, win950, …) are absent: their second bytes include '\' and other
// ASCII, so a lexer reading the bytes as UTF-8 would split them differently from the server.
var safeEncodings = map[string]bool{
	"utf8": true, "unicode": true, "sqlascii": true,
	"euccn": true, "eucjp": true, "eucjis2004": true, "euckr": true, "euctw": true, "muleinternal": true,
	"latin1": true, "latin2": true, "latin3": true, "latin4": true, "latin5": true, "latin6": true,
	"latin7": true, "latin8": true, "latin9": true, "latin10": true,
	"iso88591": true, "iso88592": true, "iso88593": true, "iso88594": true, "iso88595": true,
	"iso88596": true, "iso88597": true, "iso88598": true, "iso88599": true, "iso885910": true,
	"iso885913": true, "iso885914": true, "iso885915": true, "iso885916": true,
	"koi8": true, "koi8r": true, "koi8u": true, "alt": true, "win": true, "abc": true, "tcvn": true,
	"tcvn5712": true, "vscii": true,
	"win866": true, "win874": true, "win1250": true, "win1251": true, "win1252": true, "win1253": true,
	"win1254": true, "win1255": true, "win1256": true, "win1257": true, "win1258": true,
	"windows866": true, "windows874": true, "windows1250": true, "windows1251": true, "windows1252": true,
	"windows1253": true, "windows1254": true, "windows1255": true, "windows1256": true,
	"windows1257": true, "windows1258": true,
}

// cleanEncoding writes an encoding name as PostgreSQL's clean_encoding_name does before looking it up.
func cleanEncoding(name string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(strings.TrimSpace(name)) {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// SafeClientEncoding reports whether a client_encoding value keeps the gateway's lexing equal to the
// server's: a PostgreSQL server-side encoding, whose multibyte sequences use only bytes >= 0x80.
func SafeClientEncoding(v string) bool { return safeEncodings[cleanEncoding(v)] }

// SafeEncodingNames lists the encoding names SafeClientEncoding accepts (for tests against a server).
func SafeEncodingNames() []string {
	out := make([]string, 0, len(safeEncodings))
	for n := range safeEncodings {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// checkStartupParams returns a refusal naming the first parameter (in name order) the gateway does not
// forward, or "".
func checkStartupParams(params map[string]string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		lk := strings.ToLower(k)
		switch {
		case lk == "replication":
			return "pangate does not proxy replication connections"
		case !startupParams[lk]:
			return fmt.Sprintf("pangate: startup parameter %q is not allowed (allowed: application_name, client_encoding, DateStyle, IntervalStyle, TimeZone, extra_float_digits, search_path and a few more; see docs/policy.md); set it with SET after connecting if policy allows", k)
		case lk == "client_encoding" && !SafeClientEncoding(params[k]):
			return fmt.Sprintf("pangate: client_encoding %q is not allowed: its multibyte characters can contain ASCII bytes, which would let the gateway and PostgreSQL read one statement differently; use UTF8", params[k])
		}
	}
	return ""
}

// settingRefusal returns why a statement's setting changes must not be forwarded, or "". It applies
// whatever the policy says: these settings change how the server lexes the next statement.
func settingRefusal(c classify.Statement) string {
	for _, s := range c.Settings {
		switch {
		case s.Computed && s.Name == "":
			return "pangate: set_config with a computed setting name is not allowed: the gateway must know which setting changes"
		case s.Name == "client_encoding" && !s.Reset && (s.Computed || !SafeClientEncoding(s.Value)):
			return fmt.Sprintf("pangate: client_encoding %q is not allowed: its multibyte characters can contain ASCII bytes, which would let the gateway and PostgreSQL read statements differently; use UTF8", s.Value)
		case (s.Name == "standard_conforming_strings") && !s.Reset && (s.Computed || !settingOn(s.Value)):
			return "pangate: standard_conforming_strings stays on through the gateway (backslashes in ordinary string literals would otherwise be read differently by the gateway and PostgreSQL); use E'…' strings for escapes"
		case s.Name == "backslash_quote" && !s.Reset && s.Computed:
			return "pangate: backslash_quote cannot be set to a computed value"
		}
	}
	return ""
}

func settingOn(v string) bool {
	switch strings.ToLower(strings.Trim(v, "' ")) {
	case "on", "true", "yes", "1", "t", "y":
		return true
	}
	return false
}

// lexingStatus checks a ParameterStatus the server sent: "" if the gateway's lexing still matches.
func lexingStatus(name, value string) string {
	switch strings.ToLower(name) {
	case "client_encoding":
		if !SafeClientEncoding(value) {
			return fmt.Sprintf("pangate: the session's client_encoding became %q, which the gateway cannot lex like the server; the session ends", value)
		}
	case "standard_conforming_strings":
		if !settingOn(value) {
			return "pangate: standard_conforming_strings was turned off in the session, so the gateway can no longer lex like the server; the session ends"
		}
	}
	return ""
}

// lexNeutral reports whether text reads the same under every ASCII-compatible client encoding and both
// values of standard_conforming_strings: plain ASCII without backslashes.
func lexNeutral(text string) bool {
	for i := 0; i < len(text); i++ {
		if c := text[i]; c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}
