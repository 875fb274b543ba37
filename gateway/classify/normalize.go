package classify

import "strings"

// The literal normaliser is a small Go lexer that follows PostgreSQL's scanner (scan.l) closely enough to
// find string literals, numeric literals and comments. It never parses: it exists so the Cache can share
// one entry between statements that differ only in literal values.
//
// Safety rule: when in doubt, copy verbatim. Replacing something PostgreSQL would read as code could let a
// harmless statement's cached classification stand in for a dangerous one, so every ambiguous or
// unterminated construct is copied as is, and the result is injective: a NUL byte in the input is escaped,
// and placeholders start with NUL, so a placeholder can never collide with verbatim text.
// FuzzNormalize checks the literal and comment spans against PostgreSQL's own scanner.

const (
	placeLiteral = "\x00L" // a string or numeric literal
	placeComment = "\x00C" // a comment
	escapedNUL   = "\x00\x00"
)

// span maps a replaced region of the original text to its placeholder in the normalised text.
type span struct {
	origStart, origEnd int // [start, end) in the original
	normStart, normEnd int // [start, end) in the normalised text
	comment            bool
}

// Normalize returns sql with its numeric and string literals (including E”, B”, X”, U&” and
// dollar-quoted strings) replaced by a placeholder and its comments blanked, so that statements differing
// only in literal values normalise to the same string. The result is a cache key, not SQL: placeholders
// are NUL-prefixed byte pairs. Unterminated literals or comments, and anything ambiguous, are kept verbatim.
func Normalize(sql string) string {
	key, _ := normalize(sql)
	return key
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentCont(c byte) bool {
	return isIdentStart(c) || c >= '0' && c <= '9' || c == '$'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func normalize(sql string) (string, []span) {
	var b strings.Builder
	b.Grow(len(sql))
	var spans []span
	n := len(sql)
	emit := func(start, end int, place string, comment bool) {
		ns := b.Len()
		b.WriteString(place)
		spans = append(spans, span{origStart: start, origEnd: end, normStart: ns, normEnd: b.Len(), comment: comment})
	}
	verbatim := func(s string) {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				b.WriteString(escapedNUL)
			} else {
				b.WriteByte(s[i])
			}
		}
	}
	i := 0
	for i < n {
		c := sql[i]
		switch {
		case c == '-' && i+1 < n && sql[i+1] == '-':
			j := i + 2
			for j < n && sql[j] != '\n' && sql[j] != '\r' {
				j++
			}
			emit(i, j, placeComment, true)
			i = j
		case c == '/' && i+1 < n && sql[i+1] == '*':
			j, ok := scanBlockComment(sql, i)
			if !ok {
				verbatim(sql[i:])
				return b.String(), spans
			}
			emit(i, j, placeComment, true)
			i = j
		case c == '\'':
			j, ok := scanQuoted(sql, i+1, false)
			if !ok {
				verbatim(sql[i:])
				return b.String(), spans
			}
			emit(i, j, placeLiteral, false)
			i = j
		case c == '"':
			j, ok := scanDoubleQuoted(sql, i+1)
			if !ok {
				verbatim(sql[i:])
				return b.String(), spans
			}
			verbatim(sql[i:j])
			i = j
		case c == '$':
			j := i + 1
			if j < n && isDigit(sql[j]) { // positional parameter $1: code, not a literal
				for j < n && isDigit(sql[j]) {
					j++
				}
				if j < n && isIdentStart(sql[j]) { // "$1abc" is junk to PostgreSQL: leave it alone
					for j < n && isIdentCont(sql[j]) {
						j++
					}
				}
				verbatim(sql[i:j])
				i = j
				continue
			}
			end, ok, isDollar := scanDollar(sql, i)
			if !isDollar {
				verbatim(sql[i : i+1])
				i++
				continue
			}
			if !ok {
				verbatim(sql[i:])
				return b.String(), spans
			}
			emit(i, end, placeLiteral, false)
			i = end
		case isIdentStart(c):
			j := i + 1
			for j < n && isIdentCont(sql[j]) {
				j++
			}
			word := sql[i:j]
			// Prefixed strings: E'…' (backslash escapes), B'…', X'…', N'…', U&'…'.
			if j-i == 1 && j < n && sql[j] == '\'' {
				switch c | 0x20 {
				case 'n':
					// N'…' is the keyword NCHAR followed by an ordinary string, as PostgreSQL scans it.
					verbatim(word)
					i = j
					continue
				case 'e', 'b', 'x':
					var k int
					var ok bool
					if c|0x20 == 'e' {
						k, ok = scanQuoted(sql, j+1, true)
					} else {
						// Bit strings have no '' escape: the first quote ends them.
						k = strings.IndexByte(sql[j+1:], '\'')
						ok = k >= 0
						k += j + 2
					}
					if !ok {
						verbatim(sql[i:])
						return b.String(), spans
					}
					emit(i, k, placeLiteral, false)
					i = k
					continue
				}
			}
			if j-i == 1 && c|0x20 == 'u' && j+1 < n && sql[j] == '&' {
				switch sql[j+1] {
				case '\'':
					k, ok := scanQuoted(sql, j+2, false)
					if !ok {
						verbatim(sql[i:])
						return b.String(), spans
					}
					emit(i, k, placeLiteral, false)
					i = k
					continue
				case '"':
					k, ok := scanDoubleQuoted(sql, j+2)
					if !ok {
						verbatim(sql[i:])
						return b.String(), spans
					}
					verbatim(sql[i:k])
					i = k
					continue
				}
			}
			verbatim(word)
			i = j
		case c == '.' && i+1 < n && sql[i+1] == '.':
			// ".." is one token to PostgreSQL (DOT_DOT): "..5" is ".." then 5, not "." then .5.
			verbatim(sql[i : i+2])
			i += 2
		case isDigit(c) || c == '.' && i+1 < n && isDigit(sql[i+1]):
			j, clean := scanNumber(sql, i)
			if clean {
				emit(i, j, placeLiteral, false)
			} else {
				verbatim(sql[i:j])
			}
			i = j
		default:
			verbatim(sql[i : i+1])
			i++
		}
	}
	return b.String(), spans
}

// scanBlockComment returns the end of the (nested) /* */ comment starting at i.
func scanBlockComment(sql string, i int) (int, bool) {
	depth := 0
	j := i
	for j < len(sql) {
		switch {
		case sql[j] == '/' && j+1 < len(sql) && sql[j+1] == '*':
			depth++
			j += 2
		case sql[j] == '*' && j+1 < len(sql) && sql[j+1] == '/':
			depth--
			j += 2
			if depth == 0 {
				return j, true
			}
		default:
			j++
		}
	}
	return 0, false
}

// scanQuoted scans a single-quoted string body starting at j (just after the opening quote) and returns
// the index after the closing quote. ” is an escaped quote; with backslash, \x escapes any byte (E”).
func scanQuoted(sql string, j int, backslash bool) (int, bool) {
	for j < len(sql) {
		switch sql[j] {
		case '\\':
			if backslash {
				j += 2
				continue
			}
		case '\'':
			if j+1 < len(sql) && sql[j+1] == '\'' {
				j += 2
				continue
			}
			return j + 1, true
		}
		j++
	}
	return 0, false
}

// scanDoubleQuoted scans a quoted identifier body starting at j; "" is an escaped quote.
func scanDoubleQuoted(sql string, j int) (int, bool) {
	for j < len(sql) {
		if sql[j] == '"' {
			if j+1 < len(sql) && sql[j+1] == '"' {
				j += 2
				continue
			}
			return j + 1, true
		}
		j++
	}
	return 0, false
}

// scanDollar scans a dollar-quoted string $tag$…$tag$ starting at i. isDollar is false when the text at i
// is not a dollar-quote opening (then '$' is an ordinary character).
func scanDollar(sql string, i int) (end int, ok, isDollar bool) {
	j := i + 1
	if j < len(sql) && isIdentStart(sql[j]) {
		j++
		for j < len(sql) && (isIdentStart(sql[j]) || isDigit(sql[j])) {
			j++
		}
	}
	if j >= len(sql) || sql[j] != '$' {
		return 0, false, false
	}
	delim := sql[i : j+1]
	k := strings.Index(sql[j+1:], delim)
	if k < 0 {
		return 0, false, true
	}
	return j + 1 + k + len(delim), true, true
}

// scanNumber scans a numeric literal at i following PostgreSQL 17's scanner: decimal integers with
// optional underscores, 0x/0o/0b integers, decimals and reals. clean is false when the literal is
// followed by identifier characters or is otherwise malformed ("trailing junk" to PostgreSQL); such text
// is kept verbatim.
func scanNumber(sql string, i int) (int, bool) {
	n := len(sql)
	digits := func(j int, ok func(byte) bool) int {
		// ok(digit) (_? ok(digit))*
		if j >= n || !ok(sql[j]) {
			return j
		}
		j++
		for j < n {
			if ok(sql[j]) {
				j++
			} else if sql[j] == '_' && j+1 < n && ok(sql[j+1]) {
				j += 2
			} else {
				break
			}
		}
		return j
	}
	junk := func(j int) (int, bool) {
		// Junk is an identifier glued to the number ("123abc"); '$' cannot start an identifier, so
		// "0$$…" is 0 then a dollar quote.
		if j < n && (isIdentStart(sql[j]) || sql[j] == '.' && j+1 < n && isDigit(sql[j+1])) {
			for j < n && (isIdentCont(sql[j]) || sql[j] == '.') {
				j++
			}
			return j, false
		}
		return j, true
	}
	if sql[i] == '0' && i+2 < n {
		var ok func(byte) bool
		switch sql[i+1] | 0x20 {
		case 'x':
			ok = func(c byte) bool { return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'f' }
		case 'o':
			ok = func(c byte) bool { return c >= '0' && c <= '7' }
		case 'b':
			ok = func(c byte) bool { return c == '0' || c == '1' }
		}
		if ok != nil {
			k := i + 2
			if k < n && sql[k] == '_' {
				k++
			}
			if k < n && ok(sql[k]) {
				return junk(digits(k, ok))
			}
		}
	}
	j := digits(i, isDigit)
	if j < n && sql[j] == '.' {
		if j+1 < n && sql[j+1] == '.' { // "1..2": integer then "..", as PostgreSQL lexes it
			return j, j > i
		}
		j = digits(j+1, isDigit)
	}
	if j < n && sql[j]|0x20 == 'e' {
		k := j + 1
		if k < n && (sql[k] == '+' || sql[k] == '-') {
			k++
		}
		if k < n && isDigit(sql[k]) {
			j = digits(k, isDigit)
		} else {
			// "1e" or "1e+" followed by something else: malformed to PostgreSQL.
			for k < n && isIdentCont(sql[k]) {
				k++
			}
			return k, false
		}
	}
	return junk(j)
}

// toNorm maps an offset in the original text to the normalised text, using spans of that text.
// Offsets inside a span map to the span's start.
func toNorm(spans []span, off int) int {
	delta := 0
	for _, s := range spans {
		if s.origStart >= off {
			break
		}
		if off < s.origEnd {
			return s.normStart
		}
		delta = s.normEnd - s.origEnd
	}
	return off + delta
}

// toOrig maps an offset in the normalised text back to the original text.
func toOrig(spans []span, off int) int {
	delta := 0
	for _, s := range spans {
		if s.normStart >= off {
			break
		}
		if off < s.normEnd {
			return s.origStart
		}
		delta = s.origEnd - s.normEnd
	}
	return off + delta
}
