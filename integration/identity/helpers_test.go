package identity

import (
	"encoding/base64"
	"testing"
)

func authtestHeader(t *testing.T, json string) string {
	t.Helper()
	return base64.RawURLEncoding.EncodeToString([]byte(json))
}
