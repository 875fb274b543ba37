package manifest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pangate/pangate/schemas"
)

// Writer puts the files of one package into a directory and records each in the manifest.
type Writer struct {
	dir   string
	files []File
	seen  map[string]bool
}

// NewWriter writes a package into dir, which must not exist yet or be empty: a package is never written
// over another.
func NewWriter(dir string) (*Writer, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("manifest: package directory %s is not empty: choose a new directory", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("manifest: create package directory: %w", err)
	}
	return &Writer{dir: dir, seen: map[string]bool{}}, nil
}

// Dir is the package directory.
func (w *Writer) Dir() string { return w.dir }

// Add writes one file (rel is slash-separated) and records it with meta (Path, SHA256 and Size are filled in).
func (w *Writer) Add(rel string, data []byte, meta File) error {
	if err := checkRel(rel); err != nil {
		return err
	}
	if w.seen[rel] {
		return fmt.Errorf("manifest: file %s added twice", rel)
	}
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return fmt.Errorf("manifest: write %s: %w", rel, err)
	}
	sum := sha256.Sum256(data)
	meta.Path, meta.SHA256, meta.Size = rel, hex.EncodeToString(sum[:]), int64(len(data))
	w.files = append(w.files, meta)
	w.seen[rel] = true
	return nil
}

// Files returns the entries added so far.
func (w *Writer) Files() []File { return w.files }

// Finish sets m.Files and m.KeyID, writes manifest.json and manifest.sig, and returns the manifest hash.
func (w *Writer) Finish(m *Manifest, key ed25519.PrivateKey) (string, error) {
	m.Format = Format
	m.Files = append([]File(nil), w.files...)
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	m.KeyID = schemas.KeyID(key.Public().(ed25519.PublicKey))
	b, err := Marshal(m)
	if err != nil {
		return "", err
	}
	sig, err := Sign(b, key)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(w.dir, FileName), b, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(w.dir, SignatureName), sig, 0o644); err != nil {
		return "", err
	}
	return Hash(b), nil
}

// checkRel refuses paths that would leave the package directory or collide with the manifest itself.
func checkRel(rel string) error {
	if rel == "" || strings.HasPrefix(rel, "/") || strings.Contains(rel, "\\") || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") || rel == ".." {
		return fmt.Errorf("manifest: file path %q must be relative, clean and slash-separated", rel)
	}
	if rel == FileName || rel == SignatureName {
		return fmt.Errorf("manifest: %s is reserved", rel)
	}
	return nil
}
