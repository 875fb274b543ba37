package mask

import "strings"

// A sample is stored, so it must not hold a PAN even when a query splits one over several values:
// SELECT substr(pan, 1, 8), substr(pan, 9) puts two harmless-looking digit strings side by side, and
// unnest(…) puts them in consecutive rows. Each value passes the storage detector on its own
// (addSampleRow); sealSample then reads the digits of neighbouring values of a row, and of a column, as
// one run and masks every value of a span whose digits hold a PAN that crosses a value boundary
// (docs/masking.md, "What is stored"). Over-masking a stored sample is acceptable; a stored PAN is not.

// maxSplitCells bounds how many neighbouring values one PAN may be spread over (a PAN has at most 19
// digits; pieces of one digit each are the limit, empty values in between are skipped).
const maxSplitCells = 19

// sealSample masks PANs spread over neighbouring values of sm, in rows and in columns.
func (m *Masker) sealSample(sm *Sample) {
	for _, row := range sm.Rows {
		cells := make([]*string, len(row))
		for i := range row {
			cells[i] = &row[i]
		}
		m.sealRun(cells)
	}
	cols := 0
	for _, row := range sm.Rows {
		cols = max(cols, len(row))
	}
	for c := 0; c < cols; c++ {
		var cells []*string
		for _, row := range sm.Rows {
			if c < len(row) {
				cells = append(cells, &row[c])
			}
		}
		m.sealRun(cells)
	}
}

// sealRun hides the digits of every window of consecutive cells' digits that is a PAN crossing a value
// boundary. Only the window's digits become '*': a masked card number beside an amount whose digits
// happen to complete a Luhn-valid run loses a few digits, not the whole row.
func (m *Masker) sealRun(cells []*string) {
	if len(cells) < 2 {
		return
	}
	// The digits of all cells in order, and for each digit its cell and its index among the cell's digits.
	var d []byte
	var cellOf, nth []int
	for i, c := range cells {
		k := 0
		for _, r := range *c {
			if v, ok := digitValue(r); ok {
				d = append(d, v)
				cellOf = append(cellOf, i)
				nth = append(nth, k)
				k++
			}
		}
	}
	hide := make([]bool, len(d))
	any := false
	for a := 0; a+minPANDigits <= len(d); a++ {
		for b := a + minPANDigits; b <= len(d) && b-a <= maxPANDigits; b++ {
			if cellOf[a] == cellOf[b-1] || cellOf[b-1]-cellOf[a] >= maxSplitCells {
				continue // within one value: the value's own scan saw it
			}
			if isPAN(d[a:b]) {
				for k := a; k < b; k++ {
					hide[k] = true
				}
				any = true
			}
		}
	}
	if !any {
		return
	}
	perCell := map[int]map[int]bool{}
	for k, h := range hide {
		if h {
			if perCell[cellOf[k]] == nil {
				perCell[cellOf[k]] = map[int]bool{}
			}
			perCell[cellOf[k]][nth[k]] = true
		}
	}
	for ci, idx := range perCell {
		*cells[ci] = hideDigitsAt(*cells[ci], idx)
	}
}

// hideDigitsAt replaces the digits of s (of any script) whose index among s's digits is in idx by '*'.
func hideDigitsAt(s string, idx map[int]bool) string {
	k := -1
	return strings.Map(func(r rune) rune {
		if _, ok := digitValue(r); ok {
			k++
			if idx[k] {
				return '*'
			}
		}
		return r
	}, s)
}

// digitValues returns the values of the decimal digits of s, of any script, in order.
func digitValues(s string) []byte {
	var d []byte
	for _, r := range s {
		if v, ok := digitValue(r); ok {
			d = append(d, v)
		}
	}
	return d
}
