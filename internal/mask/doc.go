// Package mask keeps primary account numbers (PANs) and magnetic-stripe track data from leaving pangate in
// the clear (docs/invariants.md, invariant 2, PCI DSS 3.3.1, 3.4.1, 3.5.1).
//
// It has one job: find card data in bytes and overwrite it in place, keeping every length so that wire
// framing and clients do not break. Two entry points share one detector:
//
//   - [Masker.MaskInPlace] and [Masker.Text] for anything pangate stores or emits itself (SQL text, bind
//     parameters, errors, logs, Slack messages, reports).
//   - [Stream.Message] for the backend → client protocol stream of one connection: DataRow (text and binary
//     formats), CopyData (text, CSV, binary COPY), ErrorResponse, NoticeResponse, NotificationResponse,
//     ParameterStatus and the column names in RowDescription.
//
// Message flow:
//
//	upstream PostgreSQL ──backend message──▶ gateway ──typ, body──▶ Stream.Message ──masked in place──▶ client
//	                                            │                        │
//	                                            │   RowDescription: table OID + attnum ──▶ Catalog.Column
//	                                            ▼                        ▼
//	                                  query.executed event  ◀── Stream.Counts / Stream.Sample
//
// Detection is IIN range + length + Luhn for the brands in docs/pci.md, on digit runs written plain or grouped
// with single spaces or dashes, including several PANs concatenated in one run; track 1 and track 2 data
// are masked entirely. Columns tagged as cardholder data in [Config] are masked whatever their content.
// The masker never queries the database: column context comes from the gateway's [Catalog].
// docs/masking.md lists what content scanning cannot catch and the measured false-positive rates.
package mask
