package mask

import (
	"errors"
	"testing"
)

// TestWholeTableTag: "table.*" tags every column of the table, in any schema for an unqualified tag,
// and only in its schema for a qualified one; '*' elsewhere is refused.
func TestWholeTableTag(t *testing.T) {
	m, err := New(Config{Columns: []string{"cardholders.*", "crm.contacts.*", "cards.pan"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		table, column string
		want          bool
	}{
		{"cardholders", "name", true},
		{"public.cardholders", "expiry", true},
		{"crm.contacts", "email", true},
		{"public.contacts", "email", false},
		{"cards", "pan", true},
		{"cards", "id", false},
		{"", "name", false},
	} {
		if got := m.Tagged(tc.table, tc.column); got != tc.want {
			t.Errorf("Tagged(%q, %q) = %v, want %v", tc.table, tc.column, got, tc.want)
		}
	}
	for _, bad := range []string{"*.pan", "cards.p*n", "public.*.pan"} {
		if _, err := New(Config{Columns: []string{bad}}); !errors.Is(err, ErrColumn) {
			t.Errorf("%q: error %v, want ErrColumn", bad, err)
		}
	}
}
