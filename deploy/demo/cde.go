package main

import gatewayconfig "github.com/pangate/pangate/gateway/config"

// cardholderData is the gateway's mask section for the demo's cardholder data environment
// (docs/masking.md "Lineage", tags): the whole cardholders table (names, e-mail, country: every column is
// cardholder data and masked whole in results), the card number and expiry of cards, and by name in any
// table the card number, service code and cardholder name columns. A statement touching any of them is
// cardholder=1 in the audit trail, so a join of names and expiry is evidence of cardholder-data access even
// without a card number (issue 15.9).
var cardholderData = gatewayconfig.Mask{
	Shape:          "first6last4",
	Columns:        []string{"cards.pan", "cards.exp_month", "cards.exp_year", "cardholders.*"},
	ColumnPatterns: []string{"pan", "card_number", "service_code", "cardholder_name"},
}
