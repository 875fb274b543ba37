// Package tot is the demo workload: a nightly "Tree of Thoughts" job over the day's transactions. It logs in
// through pangate with a workload token, explores branches of candidate analyses (each a SQL query), scores
// them on their results, prunes to the best few, expands the survivors with follow-up queries, reads card
// data (which arrives masked), attempts two risky exports (one the demo's approver approves, one it denies)
// and returns a summary. The "reasoning" is a deterministic stand-in for a model: the same data gives the
// same tree, so the demo's figures can be asserted.
//
// Every statement says why it was sent, in a sqlcommenter comment (docs/context.md) the gateway records on
// its event: the job's purpose, the thought that asked for the data, its branch (the root analysis it
// descends from), its step (depth.index in the tree, or "cards" and "export.N") and a W3C traceparent (one
// trace per run, one span per statement), e.g.
//
//	SELECT … /*branch='2',purpose='nightly%20transaction%20review',step='1.0',thought='cards%20with%20…',traceparent='00-…-01'*/
//
// A real job connects the same way: a libpq DSN to the gateway with the OIDC token as the password, e.g.
//
//	postgres://app_reader%40payments@gateway:6432/payments?sslmode=verify-full  (password = $ID_TOKEN)
package tot

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Config tells the job where to connect and how wide to search.
type Config struct {
	DSN   string // libpq DSN of the gateway, password = the OIDC token
	Beam  int    // branches kept per level, default 2
	Depth int    // levels below the root, default 2
	// Exports are the risky statements the job attempts after the search, in order. Each is expected to be
	// held for approval; the demo approves the first and denies the second.
	Exports []string
	// Purpose is the purpose every statement states (default DefaultPurpose).
	Purpose string
}

// DefaultPurpose is the purpose the demo job states on its statements.
const DefaultPurpose = "nightly transaction review"

// DefaultExports are the two risky statements of the demo.
var DefaultExports = []string{
	// Held, then approved: the refunds to investigate, with card numbers (masked by the gateway).
	`COPY (SELECT c.pan, t.amount, t.merchant, t.created_at FROM transactions t JOIN cards c ON c.id = t.card_id WHERE t.status = 'refunded' ORDER BY t.amount DESC LIMIT 20) TO STDOUT WITH (FORMAT csv, HEADER)`,
	// Held, then denied: a full dump of the card table.
	`COPY cards TO STDOUT WITH (FORMAT csv)`,
}

// Thought is one node of the tree: an analysis, its query, its score and its children.
type Thought struct {
	Name     string     `json:"name"`
	SQL      string     `json:"sql"`
	Score    float64    `json:"score"`
	Rows     int        `json:"rows"`
	Pruned   bool       `json:"pruned"`
	Finding  string     `json:"finding"`
	Branch   string     `json:"branch"` // the root analysis it descends from, "1"…
	Step     string     `json:"step"`   // depth.index
	Children []*Thought `json:"children,omitempty"`
}

// Export is the outcome of one risky statement.
type Export struct {
	SQL     string `json:"sql"`
	Outcome string `json:"outcome"` // completed, refused
	Rows    int    `json:"rows"`
	Error   string `json:"error,omitempty"`
	Code    string `json:"sqlstate,omitempty"`
	// Sample holds the first lines the client received, as received (masked by the gateway).
	Sample []string `json:"sample,omitempty"`
}

// Summary is what the job writes to the reporting bucket.
type Summary struct {
	Root       []*Thought `json:"tree"`
	Explored   int        `json:"explored"`
	Pruned     int        `json:"pruned"`
	Best       []string   `json:"best_path"`
	Statements int        `json:"statements"`
	CardRows   []string   `json:"card_rows"` // top cards by spend, PANs as received
	Exports    []Export   `json:"exports"`
	TraceID    string     `json:"trace_id"` // the run's W3C trace id, in every statement's traceparent
}

type candidate struct {
	name   string
	branch string
	sql    string
	score  func(rows [][]string) (float64, string)
	next   func(rows [][]string) []candidate
}

// Run executes the job. It returns an error only when the job itself cannot proceed (login refused, a
// read failed); refused exports are outcomes, not errors.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if cfg.Beam <= 0 {
		cfg.Beam = 2
	}
	if cfg.Depth <= 0 {
		cfg.Depth = 2
	}
	if cfg.Exports == nil {
		cfg.Exports = DefaultExports
	}
	if cfg.Purpose == "" {
		cfg.Purpose = DefaultPurpose
	}
	conn, err := pgx.Connect(ctx, cfg.DSN)
	if err != nil {
		return Summary{}, fmt.Errorf("tot: log in through the gateway: %w", err)
	}
	defer conn.Close(ctx)
	var s Summary
	s.TraceID = randomHex(16)
	// tag appends the statement's context: why this step of the job sends it.
	tag := func(sql, thought, branch, step string) string {
		return sql + Comment(map[string]string{"purpose": cfg.Purpose, "thought": thought, "branch": branch, "step": step,
			"traceparent": "00-" + s.TraceID + "-" + randomHex(8) + "-01"})
	}
	query := func(sql string) ([][]string, error) {
		s.Statements++
		rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out [][]string
		for rows.Next() {
			vals := rows.RawValues()
			row := make([]string, len(vals))
			for i, v := range vals {
				row[i] = string(v)
			}
			out = append(out, row)
		}
		return out, rows.Err()
	}

	level := roots()
	var parents []*Thought
	for depth := 0; depth <= cfg.Depth && len(level) > 0; depth++ {
		var thoughts []*Thought
		next := map[*Thought][]candidate{}
		for i, c := range level {
			if depth == 0 {
				c.branch = fmt.Sprint(i + 1)
			}
			step := fmt.Sprintf("%d.%d", depth, i)
			rows, err := query(tag(c.sql, c.name, c.branch, step))
			if err != nil {
				return s, fmt.Errorf("tot: thought %q: %w", c.name, err)
			}
			score, finding := c.score(rows)
			t := &Thought{Name: c.name, SQL: c.sql, Score: round(score), Rows: len(rows), Finding: finding, Branch: c.branch, Step: step}
			thoughts = append(thoughts, t)
			if c.next != nil {
				next[t] = c.next(rows)
				for j := range next[t] {
					next[t][j].branch = c.branch
				}
			}
			s.Explored++
		}
		if depth == 0 {
			s.Root = thoughts
		} else {
			// Attach each child to the best surviving parent in order (the stand-in reasoning is breadth-first).
			for i, t := range thoughts {
				p := parents[i%len(parents)]
				p.Children = append(p.Children, t)
			}
		}
		sort.SliceStable(thoughts, func(i, j int) bool { return thoughts[i].Score > thoughts[j].Score })
		parents = nil
		level = nil
		for i, t := range thoughts {
			if i >= cfg.Beam {
				t.Pruned = true
				s.Pruned++
				continue
			}
			parents = append(parents, t)
			level = append(level, next[t]...)
		}
		if len(parents) > 0 {
			s.Best = append(s.Best, parents[0].Name)
		}
	}

	// Card data: the top cards by spend. The gateway masks the PAN column.
	cards, err := query(tag(`SELECT c.pan, c.brand, sum(t.amount)::text FROM transactions t JOIN cards c ON c.id = t.card_id GROUP BY c.pan, c.brand ORDER BY sum(t.amount) DESC, c.pan LIMIT 5`,
		"top cards by spend", "", "cards"))
	if err != nil {
		return s, fmt.Errorf("tot: top cards: %w", err)
	}
	for _, r := range cards {
		s.CardRows = append(s.CardRows, strings.Join(r, " "))
	}
	// Cardholder names and card expiry, without a card number: cardholder data all the same (the demo tags
	// the cardholder data environment's tables and columns, deploy/demo/cde.go), masked by the gateway.
	if _, err := query(tag(`SELECT h.name, c.exp_month, c.exp_year FROM cards c JOIN cardholders h ON h.id = c.cardholder_id ORDER BY c.exp_year, c.exp_month, c.id LIMIT 5`,
		"cards expiring soon, and their holders", "", "cards.expiry")); err != nil {
		return s, fmt.Errorf("tot: cards expiring: %w", err)
	}

	for i, sql := range cfg.Exports {
		s.Statements++
		var buf bytes.Buffer
		ct, err := conn.PgConn().CopyTo(ctx, &buf, tag(sql, "export", "", fmt.Sprintf("export.%d", i+1)))
		e := Export{SQL: sql}
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			e.Outcome, e.Rows = "completed", int(ct.RowsAffected())
			lines := strings.SplitN(buf.String(), "\n", 4)
			if len(lines) > 3 {
				lines = lines[:3]
			}
			e.Sample = lines
		case errors.As(err, &pgErr):
			e.Outcome, e.Error, e.Code = "refused", pgErr.Message, pgErr.Code
		default:
			return s, fmt.Errorf("tot: export: %w", err)
		}
		s.Exports = append(s.Exports, e)
	}
	return s, nil
}

// Comment renders key/value pairs as a sqlcommenter comment (google.github.io/sqlcommenter/spec): keys
// sorted, keys and values percent-encoded, values single-quoted, pairs joined by commas; empty values are
// left out. Percent-encoding leaves no quote, comma or "*/" in the comment.
func Comment(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k, v := range kv {
		if v != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(" /*")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(url.PathEscape(k) + "='" + url.PathEscape(kv[k]) + "'")
	}
	b.WriteString("*/")
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func round(f float64) float64 { return math.Round(f*1000) / 1000 }

func num(s string) float64 {
	var f float64
	fmt.Sscan(s, &f)
	return f
}

// roots are the first-level analyses of the day's transactions.
func roots() []candidate {
	return []candidate{
		{
			name: "decline rate by merchant",
			sql:  `SELECT merchant, count(*) FILTER (WHERE status = 'declined')::float / count(*) AS rate FROM transactions WHERE created_at > now() - interval '1 day' GROUP BY merchant ORDER BY rate DESC`,
			score: func(rows [][]string) (float64, string) {
				if len(rows) == 0 {
					return 0, "no transactions"
				}
				return num(rows[0][1]) * 10, fmt.Sprintf("%s declines %.1f%%", rows[0][0], num(rows[0][1])*100)
			},
			next: func(rows [][]string) []candidate {
				if len(rows) == 0 {
					return nil
				}
				m := strings.ReplaceAll(rows[0][0], "'", "''")
				return []candidate{{
					name: "declines at " + rows[0][0] + " by hour",
					sql:  fmt.Sprintf(`SELECT extract(hour FROM created_at)::int AS h, count(*) FROM transactions WHERE merchant = '%s' AND status = 'declined' GROUP BY h ORDER BY count(*) DESC`, m),
					score: func(rows [][]string) (float64, string) {
						if len(rows) == 0 {
							return 0, "none"
						}
						return num(rows[0][1]) / 10, fmt.Sprintf("peak at %s:00 with %s declines", rows[0][0], rows[0][1])
					},
				}}
			},
		},
		{
			name: "refund volume by merchant",
			sql:  `SELECT merchant, sum(amount) FROM transactions WHERE status = 'refunded' GROUP BY merchant ORDER BY sum(amount) DESC`,
			score: func(rows [][]string) (float64, string) {
				if len(rows) < 2 {
					return 0, "too few merchants"
				}
				return num(rows[0][1]) / num(rows[len(rows)-1][1]), fmt.Sprintf("%s refunds the most (%s EUR)", rows[0][0], rows[0][1])
			},
			next: func(rows [][]string) []candidate {
				if len(rows) == 0 {
					return nil
				}
				m := strings.ReplaceAll(rows[0][0], "'", "''")
				return []candidate{{
					name: "cards with repeated refunds at " + rows[0][0],
					sql:  fmt.Sprintf(`SELECT card_id, count(*) FROM transactions WHERE merchant = '%s' AND status = 'refunded' GROUP BY card_id HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 10`, m),
					score: func(rows [][]string) (float64, string) {
						return float64(len(rows)), fmt.Sprintf("%d cards refunded more than once", len(rows))
					},
				}}
			},
		},
		{
			name: "spend by country",
			sql:  `SELECT h.country, sum(t.amount) FROM transactions t JOIN cards c ON c.id = t.card_id JOIN cardholders h ON h.id = c.cardholder_id GROUP BY h.country ORDER BY 2 DESC`,
			score: func(rows [][]string) (float64, string) {
				return float64(len(rows)) / 10, fmt.Sprintf("%d countries", len(rows))
			},
		},
		{
			name: "large transactions",
			sql:  `SELECT count(*) FROM transactions WHERE amount > 490`,
			score: func(rows [][]string) (float64, string) {
				if len(rows) == 0 {
					return 0, ""
				}
				return num(rows[0][0]) / 100, rows[0][0] + " transactions above 490 EUR"
			},
		},
	}
}
