package soundness_test

import (
	"fmt"
	"testing"
)

// variant is one attack run in its own client session, then judged by PostgreSQL's state and log.
type variant struct {
	name string
	// mayWrite: the attack's UPDATE is one the policy allows (it has a WHERE clause), so the marker may
	// change, but then the audit must record that UPDATE as a write (checkAudit). Otherwise any change of
	// the marker table means a statement the policy holds ran.
	mayWrite bool
	params   map[string]string
	run      func(t *testing.T, w *wire, p *probe)
	// after, if set, checks the session's statement events (executed and blocked).
	after func(t *testing.T, evs []stmtEvent)
}

// runVariants runs each variant as a subtest with a fresh raw-wire session and checks, for each: the
// marker table (PostgreSQL's state) and the session's audit trail against PostgreSQL's log.
func runVariants(t *testing.T, g *gw, f *fixture, vs []variant) {
	t.Helper()
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			off := logOffset(t, f)
			w := connect(t, g, f.Role, v.params)
			p := w.probe(v.name)
			v.run(t, w, p)
			w.Close()
			if n := f.touched(t); n > 0 && !v.mayWrite {
				t.Errorf("%d marker rows were changed by an UPDATE the policy holds (no approver runs, so it must never reach PostgreSQL)", n)
			}
			evs := checkAudit(t, g, f, off, p)
			if v.after != nil {
				v.after(t, evs[p])
			}
		})
	}
}

// notRunIfRefused records text as "not run" when the answer is pangate's own refusal.
func notRunIfRefused(p *probe, ms []msg, text string) {
	if refusedByGateway(errorOf(ms)) {
		p.NotRun = append(p.NotRun, text)
	}
}

// texts of the attacks against marker table m.
type texts struct {
	harmless string // a read: allowed
	held     string // UPDATE of every row: held by hold-unbounded-write, so refused without an approver
	allowed  string // UPDATE with WHERE: allowed by allow-write, must be recorded as a write
}

func attackTexts(f *fixture) texts {
	return texts{
		harmless: fmt.Sprintf("SELECT v FROM %s WHERE id = 1", f.Marker),
		held:     fmt.Sprintf("UPDATE %s SET v = %d", f.Marker, evil),
		allowed:  fmt.Sprintf("UPDATE %s SET v = %d WHERE id = 2", f.Marker, evil),
	}
}
