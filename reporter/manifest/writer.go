package manifest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
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
	f, err := w.Create(rel)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Abort()
		return err
	}
	return f.Close(meta)
}

// Create starts one file of the package (rel is slash-separated) to be written in pieces: it is hashed and
// counted as it is written, so a population of millions of rows never sits whole in memory, and Close
// records it exactly as Add would have with the same bytes.
func (w *Writer) Create(rel string) (*FileWriter, error) {
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	if w.seen[rel] {
		return nil, fmt.Errorf("manifest: file %s added twice", rel)
	}
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("manifest: create %s: %w", rel, err)
	}
	w.seen[rel] = true
	return &FileWriter{w: w, rel: rel, path: p, f: f, buf: bufio.NewWriterSize(f, 256<<10), h: sha256.New()}, nil
}

// FileWriter is one file of a package being written (Writer.Create). It is not safe for concurrent use.
type FileWriter struct {
	w         *Writer
	rel, path string
	f         *os.File
	buf       *bufio.Writer
	h         hash.Hash
	n         int64
	done      bool
}

// Write appends p to the file and its hash.
func (f *FileWriter) Write(p []byte) (int, error) {
	if f.done {
		return 0, fmt.Errorf("manifest: write to %s after it was closed", f.rel)
	}
	n, err := f.buf.Write(p)
	f.h.Write(p[:n])
	f.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("manifest: write %s: %w", f.rel, err)
	}
	return n, nil
}

// Close finishes the file and records it with meta (Path, SHA256 and Size are filled in).
func (f *FileWriter) Close(meta File) error {
	if f.done {
		return fmt.Errorf("manifest: %s closed twice", f.rel)
	}
	f.done = true
	err := f.buf.Flush()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("manifest: write %s: %w", f.rel, err)
	}
	meta.Path, meta.SHA256, meta.Size = f.rel, hex.EncodeToString(f.h.Sum(nil)), f.n
	f.w.files = append(f.w.files, meta)
	return nil
}

// Abort removes the unfinished file and leaves it out of the manifest; the path may be created again.
func (f *FileWriter) Abort() error {
	if f.done {
		return nil
	}
	f.done = true
	_ = f.f.Close()
	delete(f.w.seen, f.rel)
	return os.Remove(f.path)
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
