package approver_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
)

// BenchmarkDecisionToRequest measures, with the real broker and the approver as its own process, the time
// from sending a signed Approve callback to gateway/hold's Request returning the decision. It reports the
// p50 and p99 in milliseconds (callback_to_request_*), and the callback's own HTTP round trip (the approver
// replies after reading its decision back from the log).
//
//	go test ./integration/approver -run '^$' -bench DecisionToRequest -benchtime 200x
func BenchmarkDecisionToRequest(b *testing.B) {
	w := newWorld(b)
	a := w.startApprover(b, "bench")
	var total, rtt []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		p := w.request(context.Background(), 5*time.Minute, nil)
		msg := w.posted(b, p.id)
		b.StartTimer()
		start := time.Now()
		res, _ := click(b, a, slackuitest.Click{ApprovalID: p.id, Approve: true, User: "UADA", MessageTS: msg.TS})
		rtt = append(rtt, time.Since(start))
		<-p.done
		total = append(total, time.Since(start))
		if res != "decided" || p.err != nil || !p.d.Approved() {
			b.Fatalf("iteration %d: %s %+v %v", i, res, p.d, p.err)
		}
	}
	b.StopTimer()
	if testing.Verbose() {
		for i, d := range total {
			if d > 50*time.Millisecond {
				b.Logf("slow iteration %d: total %s, callback %s", i, d, rtt[i])
			}
		}
	}
	report(b, "callback_to_request", total)
	report(b, "callback_http", rtt)
}

func report(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	q := func(f float64) float64 {
		i := int(f * float64(len(ds)-1))
		return float64(ds[i].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), name+"_p50_ms")
	b.ReportMetric(q(0.99), name+"_p99_ms")
}
