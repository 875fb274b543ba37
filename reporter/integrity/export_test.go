package integrity

// EventTime exposes eventTime to the external tests.
var EventTime = eventTime

// Verifications is the number of checkpoint signatures verified so far.
func Verifications() int64 { return verifications.Load() }

// VerifyAll makes the Checker verify every checkpoint's signature (the reference for covered ones) until
// the returned function is called.
func VerifyAll() (restore func()) {
	verifyAll = true
	return func() { verifyAll = false }
}
