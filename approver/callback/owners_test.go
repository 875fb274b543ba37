package callback

import (
	"crypto/ed25519"
	"reflect"
	"strings"
	"testing"

	"github.com/pangate/pangate/approver/slackui/slackuitest"
	"github.com/pangate/pangate/schemas"
)

func TestSelfCheck(t *testing.T) {
	ci := schemas.Identity{Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/etl:ref:refs/heads/main",
		Claims: map[string]string{"repository": "acme/etl"}}
	person := schemas.Identity{Issuer: "https://idp", Subject: "rex", Claims: map[string]string{"email": "Rex@Acme.example"}}
	owners := []WorkloadOwner{
		{Repository: "acme/etl", Owners: []string{"rex@acme.example"}},
		{Issuer: "https://other", Subject: "repo:acme/*", Owners: []string{"ada@acme.example"}}, // other issuer: never matches ci
	}
	cases := []struct {
		name        string
		id          schemas.Identity
		user, email string
		owners      []WorkloadOwner
		checks      []string
		self        bool
	}{
		{"person, someone else", person, "U1", "ada@acme.example", nil,
			[]string{CheckSubjectDiffers, CheckEmailDiffers, CheckNoOwners}, false},
		{"person, same email any case", person, "U1", "rex@acme.example", nil,
			[]string{CheckSubjectDiffers, CheckEmailSame, CheckNoOwners}, true},
		{"terminal user is the subject", person, "rex", "other@acme.example", nil,
			[]string{CheckSubjectSame, CheckEmailDiffers, CheckNoOwners}, true},
		{"workload without email, no owners configured", ci, "U1", "rex@acme.example", nil,
			[]string{CheckSubjectDiffers, CheckEmailAbsent, CheckNoOwners}, false},
		{"workload owner", ci, "U1", "REX@acme.example", owners,
			[]string{CheckSubjectDiffers, CheckEmailAbsent, CheckOwner}, true},
		{"workload with owners, approver not one", ci, "U2", "grace@acme.example", owners,
			[]string{CheckSubjectDiffers, CheckEmailAbsent, CheckNotOwner}, false},
		{"owner by subject prefix", ci, "U3", "ada@acme.example", []WorkloadOwner{{Subject: "repo:acme/etl:*", Owners: []string{"ada@acme.example"}}},
			[]string{CheckSubjectDiffers, CheckEmailAbsent, CheckOwner}, true},
		{"issuer mismatch", ci, "U3", "ada@acme.example", owners[1:],
			[]string{CheckSubjectDiffers, CheckEmailAbsent, CheckNoOwners}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checks, self, why := SelfCheck(tc.id, tc.user, tc.email, tc.owners)
			if !reflect.DeepEqual(checks, tc.checks) || self != tc.self {
				t.Fatalf("SelfCheck = %v %v (%s), want %v %v", checks, self, why, tc.checks, tc.self)
			}
			if self && why == "" {
				t.Fatal("self-approval without a reason")
			}
		})
	}
}

func TestWorkloadOwnerValidate(t *testing.T) {
	for _, o := range []WorkloadOwner{{Owners: []string{"a@b"}}, {Repository: "acme/etl"}, {Subject: "s", Owners: []string{"not-an-email"}}} {
		if err := (&Config{SigningSecret: secret, Approvers: []string{"U1"}, Owners: []WorkloadOwner{o}}).Validate(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestDecisionRecordsSelfChecks: the decision event did not say which self-approval checks were made, and
// a workload identity without an email (a CI job) could be approved by the person who owns the workload.
func TestDecisionRecordsSelfChecks(t *testing.T) {
	f := newFixture(t, Config{Owners: []WorkloadOwner{{Repository: "acme/etl", Owners: []string{"grace@acme.example"}}}})
	ci := func(r *schemas.ApprovalRequested) {
		r.Identity = schemas.Identity{Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:acme/etl:ref:refs/heads/main",
			Claims: map[string]string{"repository": "acme/etl"}}
	}
	f.request(t, "A1", ci)
	_, res, msg := f.click(t, slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UGROUP"})
	if res != ResultSelfApproval || !strings.Contains(msg, "own the requesting workload") {
		t.Fatalf("owner's click: %s %q", res, msg)
	}
	if f.dec.count() != 0 {
		t.Fatal("an owner's approval was published")
	}
	_, res, _ = f.click(t, slackuitest.Click{ApprovalID: "A1", Approve: true, User: "UAPPROVER"})
	if res != ResultDecided {
		t.Fatalf("approver's click: %s", res)
	}
	a, _ := f.dec.st.Get("A1")
	want := []string{CheckSubjectDiffers, CheckEmailAbsent, CheckNotOwner}
	if !reflect.DeepEqual(a.Decision.SelfChecks, want) {
		t.Fatalf("decision self checks %v, want %v", a.Decision.SelfChecks, want)
	}
}

// TestSelfChecksAreSigned: the decision signature covers the recorded checks, so they cannot be edited
// after the approver signed them.
func TestSelfChecksAreSigned(t *testing.T) {
	_, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	d := schemas.ApprovalDecided{ApprovalID: "A1", Decision: "approved", By: "U1", SelfChecks: []string{CheckSubjectDiffers, CheckEmailAbsent, CheckNoOwners}}
	if err := schemas.SignDecision(&d, key); err != nil {
		t.Fatal(err)
	}
	keys := schemas.DecisionKeys{}
	keys.Add(key.Public().(ed25519.PublicKey))
	if err := schemas.VerifyDecision(d, keys, ""); err != nil {
		t.Fatal(err)
	}
	d.SelfChecks = []string{CheckSubjectDiffers, CheckEmailDiffers, CheckNotOwner}
	if err := schemas.VerifyDecision(d, keys, ""); err == nil {
		t.Fatal("edited self checks still verify")
	}
}
