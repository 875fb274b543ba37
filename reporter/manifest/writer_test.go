package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCreateRecordsWhatAddRecords: a file written in pieces through Create gets the manifest entry (hash,
// size, metadata) and the bytes Add gives for the same data (issue 16: populations are streamed).
func TestCreateRecordsWhatAddRecords(t *testing.T) {
	data := []byte(strings.Repeat("ts,session,sql\n2026-10-01T00:00:00Z,s1,\"SELECT 1, 2\"\n", 20000)) // > the 256 KiB buffer
	for _, pieces := range []int{1, 3, 1000, len(data)} {
		a, err := NewWriter(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewWriter(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		meta := File{Description: "d", Rows: 20000, PCI: []string{"10.2.1.1"}, SQL: "SELECT 1"}
		if err := a.Add("populations/x.csv", data, meta); err != nil {
			t.Fatal(err)
		}
		f, err := s.Create("populations/x.csv")
		if err != nil {
			t.Fatal(err)
		}
		step := (len(data) + pieces - 1) / pieces
		for i := 0; i < len(data); i += step {
			if _, err := f.Write(data[i:min(i+step, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Close(meta); err != nil {
			t.Fatal(err)
		}
		want, got := a.Files()[0], s.Files()[0]
		sum := sha256.Sum256(data)
		if got.SHA256 != hex.EncodeToString(sum[:]) || got.Size != int64(len(data)) {
			t.Fatalf("%d pieces: streamed entry %s size %d, want the data's %x size %d", pieces, got.SHA256, got.Size, sum, len(data))
		}
		if got.Path != want.Path || got.SHA256 != want.SHA256 || got.Size != want.Size || got.Rows != want.Rows || got.Description != want.Description || got.SQL != want.SQL {
			t.Fatalf("%d pieces: streamed entry %+v, Add's %+v", pieces, got, want)
		}
		onDisk, err := os.ReadFile(filepath.Join(s.Dir(), "populations", "x.csv"))
		if err != nil || string(onDisk) != string(data) {
			t.Fatalf("%d pieces: file on disk differs (%d bytes, %v)", pieces, len(onDisk), err)
		}
	}
}

// TestCreateAbortAndTwice: an aborted file leaves no file and no entry and may be created again; a path
// cannot be created twice, nor written after Close.
func TestCreateAbortAndTwice(t *testing.T) {
	w, err := NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f, err := w.Create("a.csv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Create("a.csv"); err == nil {
		t.Fatal("a.csv created twice while open")
	}
	f.Write([]byte("partial"))
	if err := f.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(w.Dir(), "a.csv")); !os.IsNotExist(err) || len(w.Files()) != 0 {
		t.Fatalf("aborted file left behind: stat %v, entries %v", err, w.Files())
	}
	f, err = w.Create("a.csv")
	if err != nil {
		t.Fatalf("create after abort: %v", err)
	}
	f.Write([]byte("x"))
	if err := f.Close(File{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("y")); err == nil {
		t.Fatal("write after close accepted")
	}
	if err := w.Add("a.csv", []byte("z"), File{}); err == nil {
		t.Fatal("a.csv added after it was created")
	}
	if _, err := w.Create("../a.csv"); err == nil {
		t.Fatal("path outside the package accepted")
	}
}
