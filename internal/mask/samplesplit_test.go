package mask

import (
	"strings"
	"testing"
)

// TestSealSampleSplitPAN pins the leak integration/panleak's TestKnownLeakSampleSplitPAN found: a PAN
// split over neighbouring sample values (columns of a row, or rows of a column) was stored whole.
func TestSealSampleSplitPAN(t *testing.T) {
	m, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	const pan = "4235132731626297" // Visa, Luhn-valid
	if !isPANASCII([]byte(pan)) {
		t.Fatal("test PAN is not a PAN")
	}
	for _, tc := range []struct {
		name string
		rows [][]string
	}{
		{"two columns", [][]string{{"423513******6292", pan[:8], pan[8:]}}},
		{"three columns with an empty one", [][]string{{pan[:5], "", pan[5:11], pan[11:]}}},
		{"separators and another script", [][]string{{"4235-1327", "３１６-２６２９７"}}},
		{"consecutive rows", [][]string{{"x"}, {pan[:8]}, {pan[8:]}}},
		{"digits around the PAN", [][]string{{"99" + pan[:7], pan[7:] + "12"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sm := Sample{Rows: tc.rows}
			m.sealSample(&sm)
			var all []byte
			for _, row := range sm.Rows {
				for _, v := range row {
					all = append(all, digitValues(v)...)
				}
			}
			for a := 0; a+minPANDigits <= len(all); a++ {
				for b := a + minPANDigits; b <= len(all) && b-a <= maxPANDigits; b++ {
					if isPAN(all[a:b]) {
						t.Fatalf("a PAN survives across values: %q", sm.Rows)
					}
				}
			}
		})
	}
	// Values that are not pieces of a PAN stay as they are.
	sm := Sample{Rows: [][]string{{"12", "2026-12-06", "19.99"}, {"13", "2026-12-07", "5.00"}}}
	m.sealSample(&sm)
	if got := strings.Join(append(sm.Rows[0], sm.Rows[1]...), "|"); got != "12|2026-12-06|19.99|13|2026-12-07|5.00" {
		t.Fatalf("ordinary values changed: %s", got)
	}
}
