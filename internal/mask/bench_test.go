package mask

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5/pgtype"
)

// threadCPU returns the CPU time of the calling OS thread. Benchmarks report MB per CPU-second next to
// MB/s because the shared 2-core machines run many builds at once: wall-clock rates there mostly
// measure waiting for a core.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3 // CLOCK_THREAD_CPUTIME_ID: nanosecond resolution, unlike getrusage
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// cpuMeter accumulates the thread CPU time spent between Start and Stop.
type cpuMeter struct {
	total, at time.Duration
}

func (c *cpuMeter) Start() { c.at = threadCPU() }
func (c *cpuMeter) Stop()  { c.total += threadCPU() - c.at }

// report adds the MB/cpu-s metric for bytes processed per iteration.
func (c *cpuMeter) report(b *testing.B, bytes int) {
	if c.total > 0 {
		b.ReportMetric(float64(bytes)*float64(b.N)/c.total.Seconds()/1e6, "MB/cpu-s")
	}
}

// cleanCorpus is PAN-free text as pangate sees it in results and logs: JSON and log lines with words,
// short ids, amounts, timestamps and UUIDs. About 1 MiB.
func cleanCorpus() []byte {
	r := rand.New(rand.NewPCG(11, 12))
	words := strings.Fields("the quick brown fox jumps over lazy dog order customer status shipped pending " +
		"payment refund approved declined merchant terminal currency amount total region europe")
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		switch r.IntN(3) {
		case 0:
			fmt.Fprintf(&sb, `{"id":%d,"customer":"%s %s","status":"%s","amount":%d.%02d,"ts":"2026-11-%02dT%02d:%02d:%02d.%06dZ"}`+"\n",
				r.IntN(1e7), words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))],
				r.IntN(10000), r.IntN(100), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e6))
		case 1:
			fmt.Fprintf(&sb, "level=info msg=\"%s %s %s\" request=%08x-%04x-%04x-%04x-%012x dur=%dms\n",
				words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))],
				r.Uint32(), r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16), r.Uint64()&(1<<48-1), r.IntN(5000))
		default:
			for range 12 {
				sb.WriteString(words[r.IntN(len(words))])
				sb.WriteByte(' ')
			}
			sb.WriteString("\n")
		}
	}
	return []byte(sb.String())
}

// denseCorpus is CSV with a PAN on every line (about one PAN per 45 bytes), half plain, half grouped.
func denseCorpus() []byte {
	r := rand.New(rand.NewPCG(13, 14))
	var sb strings.Builder
	for i := 0; sb.Len() < 1<<20; i++ {
		p := randomPAN(r)
		if i%2 == 1 {
			p = group(r, p, " ")
		}
		fmt.Fprintf(&sb, "%d,doe,%s,2026-11-27\n", i, p)
	}
	return []byte(sb.String())
}

func benchMask(b *testing.B, corpus []byte) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := newMasker(b, Config{})
	buf := make([]byte, len(corpus))
	b.SetBytes(int64(len(corpus)))
	b.ReportAllocs()
	var cpu cpuMeter
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		copy(buf, corpus) // every iteration masks fresh PANs
		b.StartTimer()
		cpu.Start()
		m.MaskInPlace(buf)
		cpu.Stop()
	}
	cpu.report(b, len(corpus))
}

func BenchmarkMaskClean(b *testing.B) { benchMask(b, cleanCorpus()) }
func BenchmarkMaskDense(b *testing.B) { benchMask(b, denseCorpus()) }

// BenchmarkMaskProse is text without any digits: the pure skip loop.
func BenchmarkMaskProse(b *testing.B) {
	benchMask(b, []byte(strings.Repeat("The quick brown fox jumps over the lazy dog; no card here. ", 1<<14)))
}

var sink int

// BenchmarkBaselineSum calibrates the machine: a plain byte-summing loop over 1 MiB. Compare the masker's
// MB/s with it when reading numbers from a loaded machine.
func BenchmarkBaselineSum(b *testing.B) {
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		s := 0
		for _, c := range buf {
			s += int(c)
		}
		sink = s
	}
}

// BenchmarkStreamDataRow masks a typical DataRow (id int8 binary, name, email, created timestamptz,
// amount numeric binary, note) with and without a PAN in it, after the sample is full.
func BenchmarkStreamDataRow(b *testing.B) {
	for _, c := range []struct{ name, note string }{
		{"clean", "customer asked for a refund on order 20261127-0042, agent 17 approved"},
		{"pan", "customer read out card 4111 1111 1111 1111 on the phone, agent 17 approved"},
	} {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			s := newStream(b, Config{}, nil)
			s.Message('T', rowDesc(b, col{name: "id", oid: oidInt8, format: 1}, col{name: "name", oid: oidText},
				col{name: "email", oid: oidText}, col{name: "created", oid: oidTimestampTZ},
				col{name: "amount", oid: oidNumeric, format: 1}, col{name: "note", oid: oidText}))
			src := dataRow(b, encBin(b, oidInt8, int64(90210)), []byte("Jane Doe"), []byte("jane.doe@example.com"),
				[]byte("2026-11-27 10:08:33.123456+00"), encBin(b, oidNumeric, pgtype.Numeric{Int: big.NewInt(123456), Exp: -2, Valid: true}), []byte(c.note))
			row := make([]byte, len(src))
			for range DefaultSampleRows + 1 {
				copy(row, src)
				s.Message('D', row)
			}
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var cpu cpuMeter // around the whole loop: two clock syscalls per 1 µs op would distort it
			b.ResetTimer()
			cpu.Start()
			for b.Loop() {
				copy(row, src)
				s.Message('D', row)
			}
			cpu.Stop()
			cpu.report(b, len(src))
		})
	}
}

// benchText runs a text detector over the corpus as one string (the way events carry texts): Text (the
// stream detector) or Stored (the storage detector), for their ratio (docs/masking.md).
func benchText(b *testing.B, corpus []byte, stored bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := newMasker(b, Config{})
	s := string(corpus)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	var cpu cpuMeter
	b.ResetTimer()
	cpu.Start()
	for b.Loop() {
		if stored {
			out, _ := m.Stored(s)
			sink += len(out)
		} else {
			out, _ := m.Text(s)
			sink += len(out)
		}
	}
	cpu.Stop()
	cpu.report(b, len(s))
}

func BenchmarkTextClean(b *testing.B)   { benchText(b, cleanCorpus(), false) }
func BenchmarkTextDense(b *testing.B)   { benchText(b, denseCorpus(), false) }
func BenchmarkStoredClean(b *testing.B) { benchText(b, cleanCorpus(), true) }
func BenchmarkStoredDense(b *testing.B) { benchText(b, denseCorpus(), true) }

// BenchmarkStoredEvent is the storage detector on a typical event text (a statement with literals).
func BenchmarkStoredEvent(b *testing.B) {
	m := newMasker(b, Config{})
	s := "SELECT id, brand, amount FROM orders WHERE created > '2026-11-27 10:08:33' AND status = 'shipped' AND customer_id = 90210 LIMIT 50"
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		out, _ := m.Stored(s)
		sink += len(out)
	}
}
