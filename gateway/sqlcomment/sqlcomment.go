// Package sqlcomment reads the context a workload writes into its SQL: sqlcommenter-style comments.
//
// Google's sqlcommenter libraries, OpenTelemetry's SQL instrumentation (with its commenter enabled) and
// ORMs following them append a comment of URL-encoded key/value pairs to each statement:
//
//	SELECT pan FROM cards WHERE id = $1 /*purpose='refund%20review',step='2.1',traceparent='00-4bf9…-01'*/
//
// The gateway records the pairs as schemas.StatementContext on the statement's event and lets the policy
// see them (CEL variable context; docs/policy.md, docs/context.md). The comments are found with
// PostgreSQL's own scanner (pg_query Scan), so text inside string literals, dollar quotes or quoted names
// is never taken for a comment, and a comment is never taken for SQL: the classification of a statement
// is the same with or without its comments, because the server drops them too.
//
// Reading never fails. A comment that does not look like a key=value list (/* plain text */) is ignored;
// one that looks like it but cannot be read is counted as malformed and otherwise ignored; pairs beyond
// the caps are counted as dropped. Values and keys are masked with the storage detector before they are
// cut to size, so no card number reaches an event through a comment.
package sqlcomment

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/pangate/pangate/schemas"
)

// Caps on what one statement's context may add to its event. W3C trace context fits: a traceparent is 55
// bytes, a tracestate at most 32 members and in practice under 512 bytes.
const (
	MaxKeyBytes     = 64   // a longer key is dropped
	MaxValueBytes   = 512  // a longer value (after masking) is cut and ends in "…"
	MaxPairs        = 32   // pairs after the first MaxPairs are dropped
	MaxTotalBytes   = 4096 // keys plus values kept; pairs that would exceed it are dropped
	MaxCommentBytes = 8192 // a longer comment is not read (counted as malformed)
	MaxComments     = 16   // candidate comments read per statement; further ones are counted as malformed
)

// Ellipsis ends a value cut at MaxValueBytes.
const Ellipsis = "…"

// Storer masks a text for storage (internal/mask.Masker.Stored).
type Storer interface {
	Stored(s string) (string, int)
}

// Pair is one decoded key/value of a comment.
type Pair struct {
	Key, Value string
}

// Errors of ParseComment, for tests and for the reason a comment counted as malformed.
var (
	ErrNotContext   = errors.New("sqlcomment: not a key=value comment")
	ErrMalformed    = errors.New("sqlcomment: malformed key=value comment")
	ErrCommentLarge = errors.New("sqlcomment: comment longer than MaxCommentBytes")
)

// Parse returns the pairs of every sqlcommenter-style comment of sql, in text order, and how many
// comments looked like key=value lists but could not be read. A text the scanner refuses (an unterminated
// literal) has no context: the statement will fail at the server anyway.
func Parse(sql string) (pairs []Pair, malformed int) {
	// Almost every statement has no block comment: skip the scanner for those.
	if !strings.Contains(sql, "/*") || strings.IndexByte(sql, 0) >= 0 {
		return nil, 0
	}
	res, err := pg.Scan(sql)
	if err != nil {
		return nil, 0
	}
	read := 0
	for _, t := range res.Tokens {
		if t.Token != pg.Token_C_COMMENT || t.Start < 0 || int(t.End) > len(sql) || t.Start >= t.End {
			continue
		}
		ps, err := ParseComment(sql[t.Start:t.End])
		switch {
		case errors.Is(err, ErrNotContext):
			continue
		case err != nil:
			malformed++
			continue
		case read >= MaxComments:
			malformed++
			continue
		}
		read++
		pairs = append(pairs, ps...)
	}
	return pairs, malformed
}

// ParseComment reads one block comment, "/*" and "*/" included. It returns ErrNotContext for a comment
// that does not start with key= (an ordinary comment) and an error wrapping ErrMalformed for one that
// does but is not a list of key='value' pairs separated by commas.
//
// The grammar is sqlcommenter's (google.github.io/sqlcommenter/spec), read leniently where real
// libraries differ from it: values are single-quoted with \' and \\ escapes, or bare (Python's
// OpenTelemetry and sqlcommenter packages write numbers unquoted: dbapi_threadsafety=2); whitespace
// around the commas is allowed; "%%" is read as "%" (those packages double '%' for the driver's
// paramstyle, which leaves it doubled when a query is sent without parameters); keys and values are then
// percent-decoded.
func ParseComment(c string) ([]Pair, error) {
	if len(c) > MaxCommentBytes {
		if isCandidate(strings.TrimSpace(strings.TrimPrefix(c, "/*"))) {
			return nil, ErrCommentLarge
		}
		return nil, ErrNotContext
	}
	body, ok := strings.CutPrefix(c, "/*")
	if !ok {
		return nil, ErrNotContext
	}
	body, ok = strings.CutSuffix(body, "*/")
	if !ok {
		return nil, ErrNotContext
	}
	body = strings.TrimSpace(body)
	if !isCandidate(body) {
		return nil, ErrNotContext
	}
	var out []Pair
	for i := 0; ; {
		// key
		j := i
		for j < len(body) && !isKeyStop(body[j]) {
			j++
		}
		if j == i || j >= len(body) || body[j] != '=' {
			return nil, malformedError{j}
		}
		rawKey := body[i:j]
		j++ // '='
		// value
		var rawVal string
		if j < len(body) && body[j] == '\'' {
			var b strings.Builder
			k := j + 1
			closed := false
			for k < len(body) {
				ch := body[k]
				if ch == '\\' && k+1 < len(body) && (body[k+1] == '\'' || body[k+1] == '\\') {
					b.WriteByte(body[k+1])
					k += 2
					continue
				}
				if ch == '\'' {
					closed = true
					k++
					break
				}
				b.WriteByte(ch)
				k++
			}
			if !closed {
				return nil, malformedError{k}
			}
			rawVal, j = b.String(), k
		} else {
			k := j
			for k < len(body) && !isBareStop(body[k]) {
				k++
			}
			if k == j {
				return nil, malformedError{k}
			}
			rawVal, j = body[j:k], k
		}
		key, err := decode(rawKey)
		if err != nil {
			return nil, err
		}
		val, err := decode(rawVal)
		if err != nil {
			return nil, err
		}
		out = append(out, Pair{Key: key, Value: val})
		// separator or end
		for j < len(body) && isSpace(body[j]) {
			j++
		}
		if j == len(body) {
			return out, nil
		}
		if body[j] != ',' {
			return nil, malformedError{j}
		}
		j++
		for j < len(body) && isSpace(body[j]) {
			j++
		}
		i = j
	}
}

// isCandidate reports whether a comment body starts like a key=value list: a key, then '='.
func isCandidate(body string) bool {
	i := 0
	for i < len(body) && !isKeyStop(body[i]) {
		i++
	}
	return i > 0 && i < len(body) && body[i] == '='
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func isKeyStop(c byte) bool { return c == '=' || c == ',' || c == '\'' || isSpace(c) }

func isBareStop(c byte) bool { return c == ',' || c == '\'' || isSpace(c) }

// malformedError says where in a comment's body reading stopped.
type malformedError struct{ at int }

func (e malformedError) Error() string {
	return "sqlcomment: malformed key=value comment: unexpected text at byte " + strconv.Itoa(e.at) + " of its body"
}
func (e malformedError) Unwrap() error { return ErrMalformed }

// decode undoes sqlcommenter's encoding of one key or value: "%%" (doubled for the driver) to "%", then
// percent-decoding. Invalid UTF-8 in the result is replaced, so the event's canonical encoding accepts it.
func decode(s string) (string, error) {
	s = strings.ReplaceAll(s, "%%", "%")
	d, err := url.PathUnescape(s)
	if err != nil {
		return "", errors.Join(ErrMalformed, err)
	}
	return strings.ToValidUTF8(d, "\uFFFD"), nil
}

// validKey reports whether a decoded key may be recorded: 1..MaxKeyBytes of ASCII letters, digits and
// "_.-". The event's canonical encoding sorts map keys by bytes, which is JCS's order only for ASCII keys
// (schemas.Canonical), and policy rules name keys as identifiers.
func validKey(k string) bool {
	if k == "" || len(k) > MaxKeyBytes {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Context returns the record of sql's comments for the statement's event: the pairs masked with m and
// capped (see the Max* constants; the first occurrence of a key wins), or nil when sql holds no
// sqlcommenter-style comment at all. It never fails.
func Context(sql string, m Storer) *schemas.StatementContext {
	pairs, malformed := Parse(sql)
	return Record(pairs, malformed, m)
}

// Record masks and caps parsed pairs (Context without the parsing).
func Record(pairs []Pair, malformed int, m Storer) *schemas.StatementContext {
	if len(pairs) == 0 && malformed == 0 {
		return nil
	}
	c := &schemas.StatementContext{Malformed: int64(malformed)}
	total := 0
	for _, p := range pairs {
		if !validKey(p.Key) {
			c.Dropped++
			continue
		}
		key, _ := m.Stored(p.Key)
		if _, dup := c.Values[key]; dup || len(c.Values) >= MaxPairs {
			c.Dropped++
			continue
		}
		val, _ := m.Stored(p.Value)
		if len(val) > MaxValueBytes {
			val = cut(val, MaxValueBytes) + Ellipsis
			c.Truncated++
		}
		if total+len(key)+len(val) > MaxTotalBytes {
			c.Dropped++
			continue
		}
		total += len(key) + len(val)
		if c.Values == nil {
			c.Values = make(map[string]string)
		}
		c.Values[key] = val
	}
	return c
}

// cut returns the longest prefix of s of at most n bytes that ends on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
