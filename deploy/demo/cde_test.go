package main

import (
	"strings"
	"testing"

	"github.com/pangate/pangate/gateway/classify"
	"github.com/pangate/pangate/internal/mask"
)

// TestDemoTagsTheCardholderDataEnvironment is issue 15.9: the demo tagged only cards.pan, so a join of
// cardholder names and card expiry was cardholder=0. Each statement here touches cardholder data, by the
// demo's gateway configuration, the way the gateway decides it (a column of the statement tagged).
func TestDemoTagsTheCardholderDataEnvironment(t *testing.T) {
	m, err := mask.New(mask.Config{Shape: mask.Shape(cardholderData.Shape), Columns: cardholderData.Columns, ColumnPatterns: cardholderData.ColumnPatterns})
	if err != nil {
		t.Fatal(err)
	}
	tagged := func(sql string) []string {
		var out []string
		for _, st := range classify.Classify(sql) {
			for _, c := range st.Columns {
				table, name := "", c
				if i := strings.LastIndexByte(c, '.'); i >= 0 {
					table, name = c[:i], c[i+1:]
				}
				if m.Tagged(table, name) {
					out = append(out, c)
				}
			}
		}
		return out
	}
	for _, sql := range []string{
		`SELECT h.name, c.exp_month, c.exp_year FROM cards c JOIN cardholders h ON h.id = c.cardholder_id`,
		`SELECT name FROM cardholders`,
		`SELECT exp_year FROM cards`,
		`SELECT h.email FROM cardholders h`,
		`SELECT c.pan FROM cards c`,
	} {
		if got := tagged(sql); len(got) == 0 {
			t.Errorf("%s: no cardholder-data column tagged by the demo's configuration", sql)
		}
	}
	if got := tagged(`SELECT merchant, amount FROM transactions`); len(got) != 0 {
		t.Errorf("transactions' merchant and amount tagged: %v", got)
	}
}
