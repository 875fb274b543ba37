package pgstate

import (
	"errors"
	"testing"
)

// Deferred user code (a deferrable constraint trigger queued by a write) runs when the transaction
// commits, prepares or runs SET CONSTRAINTS and may DEALLOCATE and PREPARE there: names defined after the
// write must not survive that end (docs/policy.md, "Names redefined by user code").
func TestDiscardAllAtTxnEnd(t *testing.T) {
	s := &Statement{SQL: "SELECT 1"}
	// lookup expects Statement("s") to be want (nil: unknown) or, with wait, ErrWait.
	lookup := func(t *testing.T, m *Model, want *Statement, wait bool) {
		t.Helper()
		got, err := m.Statement("s")
		if wait {
			if !errors.Is(err, ErrWait) {
				t.Fatalf("Statement(s) = %v, %v; want ErrWait", got, err)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("Statement(s) = %v, %v; want %v", got, err, want)
		}
	}
	t.Run("commit in the same segment", func(t *testing.T) {
		m := New()
		m.DiscardAllAtTxnEnd()
		m.Parse("s", s)
		lookup(t, m, s, false) // the same transaction: the trigger has not run yet
		m.TxnEnd()
		lookup(t, m, nil, false)
	})
	t.Run("implicit transaction ends with the segment", func(t *testing.T) {
		m := New()
		w := m.DiscardAllAtTxnEnd()
		p := m.Parse("s", s)
		m.EndSegment()
		lookup(t, m, nil, true)
		m.Done(w, true, "")
		m.Done(p, true, "")
		lookup(t, m, nil, true) // answered, but not yet ReadyForQuery
		m.Ready('I')
		lookup(t, m, nil, false)
	})
	t.Run("explicit commit in a later segment", func(t *testing.T) {
		m := New()
		m.Done(m.DiscardAllAtTxnEnd(), true, "")
		m.EndSegment()
		m.Ready('T')
		m.Done(m.Parse("s", s), true, "")
		m.EndSegment()
		m.Ready('T')
		lookup(t, m, s, false)
		c := m.TxnEnd()
		m.EndSegment()
		lookup(t, m, nil, true)
		m.Done(c, true, "COMMIT")
		m.Ready('I')
		lookup(t, m, nil, false)
	})
	t.Run("rollback to savepoint keeps what was queued", func(t *testing.T) {
		m := New()
		m.Done(m.DiscardAllAtTxnEnd(), true, "")
		m.Done(m.TxnEnd(), true, "ROLLBACK") // ROLLBACK TO SAVEPOINT has the same tag
		m.EndSegment()
		m.Ready('T')
		m.Done(m.Parse("s", s), true, "")
		m.Done(m.TxnEnd(), true, "SET CONSTRAINTS")
		lookup(t, m, nil, false)
		m.Done(m.Parse("s", s), true, "")
		m.Done(m.TxnEnd(), true, "COMMIT")
		lookup(t, m, nil, false)
	})
	t.Run("without deferred code names survive commit", func(t *testing.T) {
		m := New()
		m.Done(m.DiscardAll(), true, "")
		m.Parse("s", s)
		m.TxnEnd()
		lookup(t, m, s, false)
	})
	t.Run("a new transaction starts clean", func(t *testing.T) {
		m := New()
		m.Done(m.DiscardAllAtTxnEnd(), true, "")
		m.EndSegment()
		m.Ready('I')
		m.Done(m.Parse("s", s), true, "")
		m.Done(m.TxnEnd(), true, "COMMIT")
		m.EndSegment()
		m.Ready('I')
		lookup(t, m, s, false)
	})
}
