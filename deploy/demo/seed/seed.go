// Package seed creates the demo's payments database: cardholders, cards with Luhn-valid PANs of several
// brands, and transactions, deterministically (the same seed gives the same rows), plus the database roles
// the demo policy grants (app_reader, app_writer).
package seed

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Config says how much to create.
type Config struct {
	Cardholders  int    // default 1000
	Transactions int    // default 100000
	Seed         uint64 // RNG seed, default 1
}

func (c *Config) defaults() {
	if c.Cardholders <= 0 {
		c.Cardholders = 1000
	}
	if c.Transactions <= 0 {
		c.Transactions = 100000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
}

// Brand is a card brand with an IIN prefix and a PAN length that docs/pci.md lists.
type Brand struct {
	Name   string
	Prefix string
	Length int
}

// Brands used by the seed: one IIN range each, all Luhn-valid lengths.
var Brands = []Brand{
	{"visa", "4", 16}, {"visa", "4", 13}, {"mastercard", "51", 16}, {"mastercard", "2221", 16},
	{"amex", "34", 15}, {"amex", "37", 15}, {"discover", "6011", 16}, {"jcb", "3530", 16},
	{"diners", "36", 14}, {"unionpay", "62", 18},
}

// PAN returns a Luhn-valid card number with the brand's prefix and length.
func PAN(r *rand.Rand, b Brand) string {
	digits := []byte(b.Prefix)
	for len(digits) < b.Length-1 {
		digits = append(digits, byte('0'+r.IntN(10)))
	}
	return string(append(digits, LuhnCheckDigit(digits)))
}

// LuhnCheckDigit returns the digit that makes digits+digit Luhn-valid.
func LuhnCheckDigit(digits []byte) byte {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 { // doubled positions, counted from the check digit's left neighbour
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// LuhnValid reports whether a digit string passes the Luhn check.
func LuhnValid(s string) bool {
	if len(s) < 2 {
		return false
	}
	return LuhnCheckDigit([]byte(s[:len(s)-1])) == s[len(s)-1]
}

const schema = `
DROP TABLE IF EXISTS transactions, cards, cardholders CASCADE;
CREATE TABLE cardholders (
    id         bigint PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL,
    country    text NOT NULL
);
CREATE TABLE cards (
    id            bigint PRIMARY KEY,
    cardholder_id bigint NOT NULL REFERENCES cardholders(id),
    pan           text NOT NULL UNIQUE,
    brand         text NOT NULL,
    exp_month     int  NOT NULL,
    exp_year      int  NOT NULL
);
CREATE TABLE transactions (
    id          bigint PRIMARY KEY,
    card_id     bigint NOT NULL REFERENCES cards(id),
    amount      numeric(12,2) NOT NULL,
    currency    text NOT NULL,
    merchant    text NOT NULL,
    mcc         text NOT NULL,
    status      text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX transactions_created_at ON transactions (created_at);
CREATE INDEX transactions_card ON transactions (card_id);
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_reader') THEN CREATE ROLE app_reader NOLOGIN; END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_writer') THEN CREATE ROLE app_writer NOLOGIN; END IF;
END $$;
GRANT USAGE ON SCHEMA public TO app_reader, app_writer;
GRANT SELECT ON cardholders, cards, transactions TO app_reader, app_writer;
GRANT INSERT, UPDATE, DELETE ON transactions TO app_writer;
`

var (
	firstNames = []string{"Ada", "Alan", "Grace", "Edsger", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Donald"}
	lastNames  = []string{"Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Ritchie", "Allen", "Knuth"}
	countries  = []string{"GB", "DE", "FR", "US", "NL", "IE", "ES", "IT"}
	merchants  = []struct{ name, mcc string }{
		{"Northwind Grocers", "5411"}, {"Contoso Air", "4511"}, {"Fabrikam Fuel", "5541"}, {"Tailspin Books", "5942"},
		{"Wingtip Hotels", "7011"}, {"Litware Cloud", "5734"}, {"Adatum Pharmacy", "5912"}, {"Proseware Games", "5816"},
	}
	statuses = []string{"approved", "approved", "approved", "approved", "approved", "approved", "declined", "refunded"}
)

// Result says what was created, including every PAN so tests can look for leaks.
type Result struct {
	Cardholders, Cards, Transactions int
	PANs                             []string
}

// Run (re)creates the payments schema in the database conn is connected to and fills it.
func Run(ctx context.Context, conn *pgx.Conn, cfg Config) (Result, error) {
	cfg.defaults()
	r := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	if _, err := conn.Exec(ctx, schema); err != nil {
		return Result{}, fmt.Errorf("seed: create schema: %w", err)
	}
	res := Result{Cardholders: cfg.Cardholders}
	holders := make([][]any, cfg.Cardholders)
	for i := range holders {
		fn, ln := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
		holders[i] = []any{int64(i + 1), fn + " " + ln, strings.ToLower(fn+"."+ln) + fmt.Sprintf("%d@example.com", i), countries[r.IntN(len(countries))]}
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"cardholders"}, []string{"id", "name", "email", "country"}, pgx.CopyFromRows(holders)); err != nil {
		return Result{}, fmt.Errorf("seed: cardholders: %w", err)
	}
	seen := map[string]bool{}
	var cards [][]any
	for i := 0; i < cfg.Cardholders; i++ {
		for n := 0; n < 1+r.IntN(2); n++ {
			b := Brands[r.IntN(len(Brands))]
			pan := PAN(r, b)
			if seen[pan] {
				continue
			}
			seen[pan] = true
			res.PANs = append(res.PANs, pan)
			cards = append(cards, []any{int64(len(cards) + 1), int64(i + 1), pan, b.Name, int32(1 + r.IntN(12)), int32(2027 + r.IntN(5))})
		}
	}
	res.Cards = len(cards)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"cards"}, []string{"id", "cardholder_id", "pan", "brand", "exp_month", "exp_year"}, pgx.CopyFromRows(cards)); err != nil {
		return Result{}, fmt.Errorf("seed: cards: %w", err)
	}
	// Transactions are spread over the 24 hours before now, so "the day's transactions" is today's batch.
	txs := make([][]any, cfg.Transactions)
	for i := range txs {
		m := merchants[r.IntN(len(merchants))]
		amount := fmt.Sprintf("%d.%02d", 1+r.IntN(500), r.IntN(100))
		txs[i] = []any{int64(i + 1), int64(1 + r.IntN(len(cards))), amount, "EUR", m.name, m.mcc, statuses[r.IntN(len(statuses))], int64(r.IntN(86400))}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return Result{}, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE tx_load (id bigint, card_id bigint, amount text, currency text, merchant text, mcc text, status text, secs_ago bigint) ON COMMIT DROP`); err != nil {
		return Result{}, fmt.Errorf("seed: staging table: %w", err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"tx_load"}, []string{"id", "card_id", "amount", "currency", "merchant", "mcc", "status", "secs_ago"}, pgx.CopyFromRows(txs)); err != nil {
		return Result{}, fmt.Errorf("seed: transactions: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO transactions SELECT id, card_id, amount::numeric, currency, merchant, mcc, status, now() - make_interval(secs => secs_ago) FROM tx_load`); err != nil {
		return Result{}, fmt.Errorf("seed: transactions: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Result{}, err
	}
	if _, err := conn.Exec(ctx, `ANALYZE cardholders, cards, transactions`); err != nil {
		return Result{}, err
	}
	res.Transactions = cfg.Transactions
	return res, nil
}
