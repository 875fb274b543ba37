package proxy

import (
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSimpleRead is one pgbench -S style statement through a whole session of the unit harness:
// classify (a cache hit after the first), resolve, decide, a gated read held until its query.executed is
// acknowledged, masking the result. The fakes (PostgreSQL over net.Pipe, kfake as Kafka) run in the same
// process, so ns/op (mostly waiting on kfake's acknowledgement) and cpu-µs/op (the process's user+system
// CPU, fakes included) are the whole loop's; allocs/op, B/op and cpu-µs/op compare the gateway's hot path
// between changes on a shared machine better than ns/op does. The gateway's CPU per statement against a byte-copy proxy on the real stack is
// deploy/bench/bench.sh's (BENCHMARKS.md).
func BenchmarkSimpleRead(b *testing.B) {
	h := newHarness(b)
	fe, c, _ := h.client(b, "good")
	untilReady(b, fe)
	b.ReportAllocs()
	cpu0 := processCPU()
	i := 0
	for b.Loop() {
		if i%1000 == 0 {
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		}
		i++
		if _, err := c.Write(queryFrame("SELECT abalance FROM pgbench_accounts WHERE aid = " + strconv.Itoa(i%100000+1) + ";")); err != nil {
			b.Fatal(err)
		}
		if types, _ := untilReady(b, fe); types != "TDCZ" {
			b.Fatalf("response types %q", types)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(i), "cpu-µs/op")
}

// processCPU is the process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
