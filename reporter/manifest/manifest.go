// Package manifest is the format of an evidence package's table of contents (manifest.json), its detached
// Ed25519 signature (manifest.sig) and the keys that sign it.
//
// A package is a directory (or a key prefix in a bucket) of files. manifest.json lists every other file
// with its SHA-256 and the controls it serves; manifest.sig signs the exact bytes of manifest.json; and each
// manifest names the SHA-256 of the previous package's manifest.json, so packages form a chain that a
// verifier can walk offline with the public key alone (the CloudTrail digest model).
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Format identifies this manifest layout; a verifier refuses any other.
const Format = "pangate-evidence/1"

// Names of the two files every package has besides the files its manifest lists.
const (
	FileName      = "manifest.json"
	SignatureName = "manifest.sig"
)

// Kinds of package.
const (
	KindPackage     = "package"      // the monthly (or any period's) evidence package
	KindDailyReview = "daily_review" // one day's exceptions for reviewer sign-off (PCI DSS 10.4.1)
)

// Manifest is the content of manifest.json.
type Manifest struct {
	Format      string    `json:"format"`
	Kind        string    `json:"kind"`
	Generator   Generator `json:"generator"`
	GeneratedAt string    `json:"generated_at"` // RFC 3339 UTC
	Period      Period    `json:"period"`
	Scope       Scope     `json:"scope"`
	// Storage says where the package was written and whether the store enforces retention (Object Lock),
	// as detected before the package was signed.
	Storage Storage `json:"storage"`
	// Previous is the hex SHA-256 of the previous package's manifest.json bytes, or "" for the first
	// package of a chain. PreviousLocation says where that package was stored, for a reader's convenience
	// (it is not trusted: the hash is).
	Previous         string `json:"previous"`
	PreviousLocation string `json:"previous_location,omitempty"`
	// Empty is true when the period held no events: the package still exists and says so.
	Empty  bool             `json:"empty"`
	Counts map[string]int64 `json:"counts"`
	Files  []File           `json:"files"`
	KeyID  string           `json:"key_id"` // schemas.KeyID of the signing key
}

// Generator names the program that built the package.
type Generator struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Period is the half-open interval [From, To) the package covers, RFC 3339 UTC.
type Period struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Scope says what the package looked at.
type Scope struct {
	Database    string   `json:"database"`           // ClickHouse database
	Gateways    []string `json:"gateways,omitempty"` // gateway instances seen in the period
	Description string   `json:"description,omitempty"`
}

// Storage describes the package's destination.
type Storage struct {
	Kind       string `json:"kind"`     // local, s3
	Location   string `json:"location"` // directory or s3://bucket/key-prefix/
	ObjectLock bool   `json:"object_lock"`
	LockMode   string `json:"lock_mode,omitempty"` // GOVERNANCE or COMPLIANCE
	RetainDays int    `json:"retain_days,omitempty"`
	Note       string `json:"note,omitempty"` // why Object Lock is not in use, when it is not
}

// File is one entry of the manifest.
type File struct {
	Path        string   `json:"path"` // slash-separated, relative to the package root
	SHA256      string   `json:"sha256"`
	Size        int64    `json:"size"`
	Rows        int64    `json:"rows,omitempty"` // data rows, for CSV populations
	Description string   `json:"description"`
	PCI         []string `json:"pci,omitempty"`
	SOC2        []string `json:"soc2,omitempty"`
	ISO27001    []string `json:"iso27001,omitempty"`
	SQL         string   `json:"sql,omitempty"` // the query that produced the file
}

// Errors a reader of manifests can match.
var (
	// ErrFormat is returned for a manifest.json that does not parse or has an unknown format.
	ErrFormat = errors.New("manifest: not a pangate evidence manifest")
)

// Marshal renders m as the bytes written to manifest.json (indented, so a QSA can read it; the signature
// covers these exact bytes, so no canonical form is needed).
func Marshal(m *Manifest) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// Parse reads manifest.json bytes.
func Parse(b []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrFormat, m.Format, Format)
	}
	return &m, nil
}

// Hash is the hex SHA-256 of manifest.json bytes: what the next package's Previous holds.
func Hash(manifestJSON []byte) string {
	sum := sha256.Sum256(manifestJSON)
	return hex.EncodeToString(sum[:])
}

// File returns the entry for path, or nil.
func (m *Manifest) File(path string) *File {
	for i := range m.Files {
		if m.Files[i].Path == path {
			return &m.Files[i]
		}
	}
	return nil
}
