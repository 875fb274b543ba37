package mask

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// Shape is how much of a PAN stays visible after masking.
type Shape string

// Mask shapes. Every shape keeps the length and the separators of the masked value.
const (
	// ShapeFirst6Last4 keeps the first six and the last four digits (PCI DSS 3.4.1 maximum). Default.
	ShapeFirst6Last4 Shape = "first6last4"
	// ShapeFirst8Last4 keeps the first eight and last four digits for PANs of 16 digits or more (8-digit
	// BINs); shorter PANs fall back to first six + last four so that at least two digits stay hidden.
	ShapeFirst8Last4 Shape = "first8last4"
	// ShapeLast4 keeps only the last four digits.
	ShapeLast4 Shape = "last4"
	// ShapeFull hides every digit.
	ShapeFull Shape = "full"
)

// Errors returned by [Config.Validate] and [New].
var (
	// ErrShape means Config.Shape is not one of the Shape constants.
	ErrShape = errors.New("mask: unknown mask shape")
	// ErrPattern means a Config.ColumnPatterns entry is not a valid glob pattern.
	ErrPattern = errors.New("mask: invalid column pattern")
	// ErrColumn means a Config.Columns entry is not "table.column" or "schema.table.column".
	ErrColumn = errors.New("mask: invalid column tag")
	// ErrFill means Config.TextFill is not a printable ASCII non-digit, non-separator byte.
	ErrFill = errors.New("mask: invalid text fill byte")
	// ErrSample means a sample cap is negative.
	ErrSample = errors.New("mask: negative sample cap")
)

// Default sample caps used when Config.SampleRows / SampleBytes are zero.
const (
	DefaultSampleRows  = 5
	DefaultSampleBytes = 2048
)

// Config configures a [Masker]. The zero value is valid: first six + last four, '*' as fill in text,
// no fingerprints, no column tags.
type Config struct {
	// Shape is how much of a PAN stays visible; default ShapeFirst6Last4.
	Shape Shape
	// FingerprintKey is the HMAC-SHA256 key for keyed fingerprints (PCI DSS 3.5.1.1). Empty: no fingerprints.
	FingerprintKey []byte
	// ColumnPatterns are case-insensitive column-name glob patterns ('*', '?', '[...]' as in path.Match)
	// always treated as cardholder data, e.g. "pan", "card_number", "*card_no*". They match both the source
	// column (through the Catalog) and the result column name or alias in RowDescription.
	ColumnPatterns []string
	// Columns are explicit "table.column" or "schema.table.column" tags (case-insensitive). A
	// "table.column" tag matches that table in any schema. "table.*" (or "schema.table.*") tags every
	// column of the table: a whole table of the cardholder data environment (docs/masking.md).
	Columns []string
	// SampleRows and SampleBytes cap the masked result sample kept per statement (defaults
	// DefaultSampleRows, DefaultSampleBytes). Negative is an error; there is no "unlimited".
	SampleRows, SampleBytes int
	// TextFill replaces hidden digits in text values (default '*'). Numeric values (int8, numeric,
	// float, their arrays, in text or binary format) always get '0' so that they stay parseable.
	TextFill byte
}

// Validate reports the first problem in c in words a user can act on.
func (c Config) Validate() error {
	switch c.Shape {
	case "", ShapeFirst6Last4, ShapeFirst8Last4, ShapeLast4, ShapeFull:
	default:
		return fmt.Errorf("%w %q: use one of %q, %q, %q, %q", ErrShape, c.Shape,
			ShapeFirst6Last4, ShapeFirst8Last4, ShapeLast4, ShapeFull)
	}
	for _, p := range c.ColumnPatterns {
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("%w: empty pattern in column patterns; remove it", ErrPattern)
		}
		if _, err := matchGlob(strings.ToLower(p), "x"); err != nil {
			return fmt.Errorf("%w %q: %v", ErrPattern, p, err)
		}
	}
	for _, col := range c.Columns {
		parts := strings.Split(col, ".")
		if len(parts) < 2 || len(parts) > 3 {
			return fmt.Errorf("%w %q: write it as table.column or schema.table.column", ErrColumn, col)
		}
		for i, p := range parts {
			if strings.TrimSpace(p) == "" {
				return fmt.Errorf("%w %q: empty name part", ErrColumn, col)
			}
			if strings.Contains(p, "*") && (i < len(parts)-1 || p != "*") {
				return fmt.Errorf("%w %q: '*' may only stand for the whole column part (table.* or schema.table.*)", ErrColumn, col)
			}
		}
	}
	if c.TextFill != 0 && (c.TextFill < 0x21 || c.TextFill > 0x7e || isDigit(c.TextFill) || c.TextFill == '-') {
		return fmt.Errorf("%w %q: use a printable ASCII byte that is not a digit or '-', e.g. '*' or 'X'", ErrFill, c.TextFill)
	}
	if c.SampleRows < 0 || c.SampleBytes < 0 {
		return fmt.Errorf("%w: sample rows %d, sample bytes %d; use 0 for the defaults", ErrSample, c.SampleRows, c.SampleBytes)
	}
	return nil
}

// Findings describes what [Masker.Text] masked.
type Findings struct {
	// Count is the number of PANs and track data masked.
	Count int
	// Fingerprints holds one keyed fingerprint per masked PAN, in order of appearance (empty without a key).
	Fingerprints []string
}

// Masker detects and masks card data. It is immutable after New and safe for concurrent use.
type Masker struct {
	cfg      Config
	shape    Shape
	fill     byte
	patterns []string            // lower-cased globs
	tags     map[string]struct{} // lower-cased "table.column" and "schema.table.column"
	key      []byte
}

// New returns a Masker for cfg after validating it.
func New(cfg Config) (*Masker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Masker{cfg: cfg, shape: cfg.Shape, fill: cfg.TextFill, tags: map[string]struct{}{}}
	if m.shape == "" {
		m.shape = ShapeFirst6Last4
	}
	if m.fill == 0 {
		m.fill = '*'
	}
	if m.cfg.SampleRows == 0 {
		m.cfg.SampleRows = DefaultSampleRows
	}
	if m.cfg.SampleBytes == 0 {
		m.cfg.SampleBytes = DefaultSampleBytes
	}
	for _, p := range cfg.ColumnPatterns {
		m.patterns = append(m.patterns, strings.ToLower(strings.TrimSpace(p)))
	}
	for _, c := range cfg.Columns {
		m.tags[strings.ToLower(strings.TrimSpace(c))] = struct{}{}
	}
	m.key = append([]byte(nil), cfg.FingerprintKey...)
	return m, nil
}

// Shape returns the configured mask shape (recorded in events as mask_shape).
func (m *Masker) Shape() Shape { return m.shape }

// MaskInPlace masks every PAN and every track-1/track-2 datum in b with the text fill, keeping the
// length; it returns how many it masked. It does not allocate when b holds none.
func (m *Masker) MaskInPlace(b []byte) int {
	return m.scan(b, m.fill, nil)
}

// Text returns s with every PAN and track datum masked, for anything pangate stores or emits (SQL text,
// bind parameters, errors, logs, Slack). It returns s itself when nothing was found.
func (m *Masker) Text(s string) (string, Findings) {
	if !mayHoldPAN(s) || m.scan(unsafe.Slice(unsafe.StringData(s), len(s)), 0, nil) == 0 {
		// the dry run (fill 0) only reads the string's bytes
		return s, Findings{}
	}
	b := []byte(s)
	var f Findings
	var fps *[]string
	if len(m.key) > 0 {
		fps = &f.Fingerprints
	}
	f.Count = m.scan(b, m.fill, fps)
	if f.Count == 0 {
		return s, Findings{}
	}
	return string(b), f
}

// MaskValue masks one value of PostgreSQL type oid (0 when unknown) in the given format code (0 text,
// 1 binary) in place, the way a DataRow column is masked, and returns how many it masked. tagged masks the
// whole value (a column tagged as cardholder data). Use it for Bind parameters: binary int8 or numeric
// parameters holding a PAN are not visible to Text.
func (m *Masker) MaskValue(oid uint32, format int16, tagged bool, v []byte) int {
	switch {
	case oid == 0:
		return m.guessValue(v)
	case format == 1:
		return m.binaryValue(oid, v, tagged, 0, nil)
	case oid == oidBytea:
		return m.byteaText(v, tagged)
	case oid == oidJSON || oid == oidJSONB:
		return m.jsonValue(v, tagged, nil)
	case oid == oidFloat8 || oid == oidFloat4:
		return m.floatText(v, tagged)
	case oid == oidMoney:
		return m.moneyText(v, tagged)
	case oid == oidMoneyArray:
		return m.moneyArrayText(v, tagged)
	case numericOID(oid):
		return m.textValue(v, '0', tagged, nil)
	}
	return m.textValue(v, m.fill, tagged, nil)
}

// Tagged reports whether table.column is cardholder data by configuration: an explicit Columns tag or a
// ColumnPatterns match on the column name. table may be "table" or "schema.table".
func (m *Masker) Tagged(table, column string) bool {
	if column == "" {
		return false
	}
	lc := strings.ToLower(column)
	if m.nameTagged(lc) {
		return true
	}
	if len(m.tags) == 0 || table == "" {
		return false
	}
	lt := strings.ToLower(table)
	for _, c := range [2]string{lc, "*"} { // "table.*" tags every column of the table
		if _, ok := m.tags[lt+"."+c]; ok {
			return true
		}
		if i := strings.LastIndexByte(lt, '.'); i >= 0 {
			if _, ok := m.tags[lt[i+1:]+"."+c]; ok {
				return true
			}
		}
	}
	return false
}

// nameTagged reports whether a lower-cased column name matches a ColumnPatterns entry.
func (m *Masker) nameTagged(lc string) bool {
	for _, p := range m.patterns {
		if ok, _ := matchGlob(p, lc); ok {
			return true
		}
	}
	return false
}
