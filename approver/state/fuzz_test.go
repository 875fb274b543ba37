package state

import (
	"testing"
	"time"

	"github.com/pangate/pangate/schemas"
)

// FuzzApplyRecord feeds hostile record values to the state: it must never panic, and an approval once
// closed never changes its outcome or closing event.
func FuzzApplyRecord(f *testing.F) {
	mk := func(typ string, data any) []byte {
		e, err := schemas.NewUnchained("A", schemas.Source{Instance: "x"}, typ, data)
		if err != nil {
			f.Fatal(err)
		}
		b, _ := schemas.Marshal(e)
		return b
	}
	f.Add(mk(schemas.TypeApprovalDecided, schemas.ApprovalDecided{ApprovalID: "A", Decision: "denied", By: "U"}))
	f.Add(mk(schemas.TypeApprovalExpired, schemas.ApprovalExpired{ApprovalID: "A"}))
	f.Add(mk(schemas.TypeApprovalNotified, schemas.ApprovalNotified{ApprovalID: "A", Channel: "C"}))
	f.Add(mk(schemas.TypeApprovalRequested, schemas.ApprovalRequested{ApprovalID: "B", Expires: schemas.FormatTime(time.Now())}))
	f.Add([]byte(`{"type":"approval.decided","data":{"approval_id":"A","decision":"approved"}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, value []byte) {
		s := New(Config{})
		req, _ := schemas.NewUnchained("A", schemas.Source{Instance: "gw"}, schemas.TypeApprovalRequested,
			schemas.ApprovalRequested{ApprovalID: "A", Expires: schemas.FormatTime(time.Now().Add(time.Hour))})
		if _, _, err := s.Apply(req); err != nil {
			t.Fatal(err)
		}
		closing, _ := schemas.NewUnchained("A", schemas.Source{Instance: "ap"}, schemas.TypeApprovalDecided,
			schemas.ApprovalDecided{ApprovalID: "A", Decision: Approved, By: "U1"})
		_, _, _ = s.ApplyRecord(value) // may or may not close A
		before, _ := s.Get("A")
		_, _, _ = s.Apply(closing)
		_, _, _ = s.ApplyRecord(value)
		after, _ := s.Get("A")
		if !before.IsPending() && (after.Outcome != before.Outcome || after.ClosedID != before.ClosedID) {
			t.Fatalf("closed approval changed: %s/%s → %s/%s", before.Outcome, before.ClosedID, after.Outcome, after.ClosedID)
		}
		if after.IsPending() {
			t.Fatal("approval pending after a valid closing event")
		}
	})
}
