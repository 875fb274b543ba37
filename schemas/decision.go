package schemas

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

// ErrDecisionSignature is matched (errors.Is) by every failure of VerifyDecision.
var ErrDecisionSignature = errors.New("schemas: approval decision signature does not verify")

// decisionDomain separates decision signatures from every other Ed25519 signature pangate makes
// (checkpoints, evidence manifests), so that no signed object can be replayed as another.
const decisionDomain = "pangate approval.decided v1\n"

// Reasons a decision is not accepted, as written in ApprovalRejected.Reason.
const (
	RejectUnsigned     = "unsigned"      // no key id or no signature
	RejectUnknownKey   = "unknown_key"   // signed with a key id the reader does not trust
	RejectBadSignature = "bad_signature" // the signature does not cover these bytes (tampered, replayed for another approval)
	RejectOtherRequest = "other_request" // validly signed, but for a different approval.requested event
)

// DecisionError says why a decision was not accepted; Reason is one of the Reject* constants.
type DecisionError struct {
	ApprovalID string
	KeyID      string
	Reason     string
	Detail     string
}

func (e *DecisionError) Error() string {
	return fmt.Sprintf("approval %s: decision %s (key id %q): %s", e.ApprovalID, e.Reason, e.KeyID, e.Detail)
}

// Is makes errors.Is(err, ErrDecisionSignature) true.
func (e *DecisionError) Is(target error) bool { return target == ErrDecisionSignature }

// decisionSigningBytes is the domain string followed by the canonical encoding of d without its signature:
// every member a gateway acts on (approval id, decision, decider, reason, latency, the request it answers,
// the key id) is covered.
func decisionSigningBytes(d ApprovalDecided) ([]byte, error) {
	d.Signature = ""
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	c, err := Canonical(b)
	if err != nil {
		return nil, err
	}
	return append([]byte(decisionDomain), c...), nil
}

// SignDecision sets d.KeyID and d.Signature with key. d.Request should already hold the hash of the
// approval.requested event the decision answers.
func SignDecision(d *ApprovalDecided, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("schemas: sign decision for approval %s: not an Ed25519 private key (%d bytes)", d.ApprovalID, len(key))
	}
	d.KeyID = KeyID(key.Public().(ed25519.PublicKey))
	msg, err := decisionSigningBytes(*d)
	if err != nil {
		return fmt.Errorf("schemas: sign decision for approval %s: %w", d.ApprovalID, err)
	}
	d.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
	return nil
}

// DecisionKeys are the public keys a reader trusts for approval decisions, by key id (KeyID). Several keys
// let an approver deployment rotate its key: configure the new public key next to the old one, switch the
// approver, then remove the old one.
type DecisionKeys map[string]ed25519.PublicKey

// Add trusts pub.
func (k DecisionKeys) Add(pub ed25519.PublicKey) { k[KeyID(pub)] = pub }

// IDs lists the trusted key ids, sorted.
func (k DecisionKeys) IDs() []string {
	out := make([]string, 0, len(k))
	for id := range k {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// VerifyDecision checks d's signature against keys and, when request is not empty, that d answers the
// approval.requested event whose hash is request. The error is a *DecisionError.
func VerifyDecision(d ApprovalDecided, keys DecisionKeys, request string) error {
	fail := func(reason, detail string) error {
		return &DecisionError{ApprovalID: d.ApprovalID, KeyID: d.KeyID, Reason: reason, Detail: detail}
	}
	if d.KeyID == "" || d.Signature == "" {
		return fail(RejectUnsigned, "the decision carries no key id or no signature")
	}
	pub, ok := keys[d.KeyID]
	if !ok {
		return fail(RejectUnknownKey, fmt.Sprintf("key id is not among the trusted decision keys [%s]", strings.Join(keys.IDs(), " ")))
	}
	sig, err := base64.StdEncoding.DecodeString(d.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fail(RejectBadSignature, "the signature is not 64 bytes of base64")
	}
	msg, err := decisionSigningBytes(d)
	if err != nil {
		return fail(RejectBadSignature, err.Error())
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fail(RejectBadSignature, "the signature does not cover this decision")
	}
	if request != "" && d.Request != request {
		return fail(RejectOtherRequest, fmt.Sprintf("the decision answers request %q, not %q", d.Request, request))
	}
	return nil
}

// LoadDecisionKeys reads Ed25519 public keys (PKIX PEM) from paths.
func LoadDecisionKeys(paths []string) (DecisionKeys, error) {
	keys := DecisionKeys{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("schemas: read decision public key: %w", err)
		}
		pub, err := ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("schemas: decision public key %s: %w", p, err)
		}
		keys.Add(pub)
	}
	return keys, nil
}
