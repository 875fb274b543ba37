package query

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

type rbRow struct {
	Record, Session, Topic string
	Partition              int32
	Offset                 int64
}

func appendRowBinary(b []byte, r rbRow) []byte {
	for _, s := range []string{r.Record, r.Session, r.Topic} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Partition))
	return binary.LittleEndian.AppendUint64(b, uint64(r.Offset))
}

// scanAll runs scanRowBinary over stream through a buffer of size, the underlying reader wrapped by wrap.
func scanAll(stream []byte, size int, wrap func(io.Reader) io.Reader) ([]rbRow, int, error) {
	var got []rbRow
	n, err := scanRowBinary(bufio.NewReaderSize(wrap(bytes.NewReader(stream)), size), func(record, session, topic []byte, partition int32, offset int64) {
		got = append(got, rbRow{string(record), string(session), string(topic), partition, offset})
	})
	return got, n, err
}

// referenceRowBinary is the former reader: every string copied through readStr.
func referenceRowBinary(stream []byte) ([]rbRow, error) {
	br := bufio.NewReader(bytes.NewReader(stream))
	var out []rbRow
	var num [8]byte
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return out, nil
		}
		var r rbRow
		var s [3][]byte
		for i := range s {
			var err error
			if s[i], err = readStr(br, nil); err != nil {
				return out, err
			}
		}
		if _, err := io.ReadFull(br, num[:4]); err != nil {
			return out, err
		}
		r.Partition = int32(binary.LittleEndian.Uint32(num[:4]))
		if _, err := io.ReadFull(br, num[:8]); err != nil {
			return out, err
		}
		r.Offset = int64(binary.LittleEndian.Uint64(num[:8]))
		r.Record, r.Session, r.Topic = string(s[0]), string(s[1]), string(s[2])
		out = append(out, r)
	}
}

// TestScanRowBinaryInPlace: rows shorter and longer than the buffer, whatever the reads' sizes, come out as
// written; a stream cut inside a row, or with a string longer than maxRecord, is an error.
func TestScanRowBinaryInPlace(t *testing.T) {
	var want []rbRow
	var stream []byte
	for i := 0; i < 60; i++ {
		r := rbRow{Record: strings.Repeat(fmt.Sprintf("%c", 'a'+i%26), i*i%700), Session: fmt.Sprintf("sess-%d", i%7), Topic: "audit.events",
			Partition: int32(i % 12), Offset: int64(i) << 33}
		if i%13 == 0 {
			r.Session, r.Topic = "", ""
		}
		want = append(want, r)
		stream = appendRowBinary(stream, r)
	}
	wraps := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"halves":   iotest.HalfReader,
	}
	for _, size := range []int{16, 100, 1000, 1 << 20} {
		for name, wrap := range wraps {
			got, n, err := scanAll(stream, size, wrap)
			if err != nil || n != len(want) || !reflect.DeepEqual(got, want) {
				t.Fatalf("buffer %d, %s reads: %d rows, %v; rows equal: %v", size, name, n, err, reflect.DeepEqual(got, want))
			}
		}
	}
	// Cut anywhere: rows before the cut, and an error unless the cut falls between rows.
	ends := map[int]int{0: 0}
	for i, p := 0, 0; i < len(want); i++ {
		p = len(appendRowBinary(stream[:p:p], want[i]))
		ends[p] = i + 1
	}
	for cut := 0; cut < len(stream); cut += 7 {
		got, _, err := scanAll(stream[:cut], 100, iotest.HalfReader)
		if rows, between := ends[cut]; between {
			if err != nil || len(got) != rows {
				t.Fatalf("cut at row boundary %d: %d rows, %v; want %d rows, no error", cut, len(got), err, rows)
			}
		} else if err == nil {
			t.Fatalf("cut at %d inside a row: no error (%d rows)", cut, len(got))
		}
	}
	huge := binary.AppendUvarint(nil, maxRecord+1)
	if _, _, err := scanAll(append(huge, "x"...), 64, func(r io.Reader) io.Reader { return r }); err == nil || !strings.Contains(err.Error(), "string of") {
		t.Fatalf("string longer than maxRecord: %v", err)
	}
}

// FuzzScanRowBinary: on any stream, the in-place reader yields the rows the copying reader did, and fails
// where it failed.
func FuzzScanRowBinary(f *testing.F) {
	f.Add(appendRowBinary(nil, rbRow{"{\"data\":{}}", "s", "t", 1, 2}), 16)
	f.Add(appendRowBinary(appendRowBinary(nil, rbRow{strings.Repeat("x", 40), "", "t", 0, 0}), rbRow{"", "s", "", -1, -1}), 16)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 32)
	f.Fuzz(func(t *testing.T, stream []byte, size int) {
		size = 16 + (size&0xffff)%4096
		want, werr := referenceRowBinary(stream)
		got, _, err := scanAll(stream, size, iotest.HalfReader)
		if (err != nil) != (werr != nil) || len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("in place: %d rows, %v; copying: %d rows, %v", len(got), err, len(want), werr)
		}
	})
}
