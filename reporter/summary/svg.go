package summary

import (
	"fmt"
	"html"
	"strconv"
	"strings"
)

// Bar is one bar (or one stack of segments) of a chart.
type Bar struct {
	Label  string
	Values []int64 // one per series; stacked
}

// BarChart is a hand-drawn SVG bar chart: vertical bars (one per label, stacked series) when Horizontal is
// false, one horizontal bar per label otherwise. It needs no script and no external resource.
type BarChart struct {
	Title      string
	Series     []string // legend, one per value
	Bars       []Bar
	Horizontal bool
	Unit       string
}

var palette = []string{"#2b6cb0", "#c53030", "#d69e2e", "#2f855a", "#6b46c1", "#718096"}

// SVG renders the chart.
func (c BarChart) SVG() string {
	var b strings.Builder
	if len(c.Bars) == 0 {
		fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="60" role="img" aria-label="%s"><text x="10" y="35" font-size="13" fill="#555">No data in the period.</text></svg>`, esc(c.Title))
		return b.String()
	}
	var max int64 = 1
	for _, bar := range c.Bars {
		var sum int64
		for _, v := range bar.Values {
			sum += v
		}
		if sum > max {
			max = sum
		}
	}
	if c.Horizontal {
		// The label column is as wide as the longest label (up to maxLabel characters), so identities are
		// not cut off at the left edge; the whole label is in each bar's tooltip.
		const maxLabel = 64
		longest := 0
		for _, bar := range c.Bars {
			if n := len([]rune(trunc(bar.Label, maxLabel))); n > longest {
				longest = n
			}
		}
		rowH, plot, valueW := 22, 360, 90
		labelW := 12 + int(charW12*float64(longest))
		width := labelW + plot + valueW
		if lw := c.legendWidth() + 20; lw > width {
			width = lw
		}
		h := len(c.Bars)*rowH + 40
		fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="sans-serif" font-size="12">`, width, h, width, h, esc(c.Title))
		for i, bar := range c.Bars {
			y := 10 + i*rowH
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end"><title>%s</title>%s</text>`, labelW-6, y+14, esc(bar.Label), esc(trunc(bar.Label, maxLabel)))
			x := labelW
			var sum int64
			for s, v := range bar.Values {
				w := scaled(plot, v, max)
				fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: %d</title></rect>`, x, y, w, rowH-6, palette[s%len(palette)], esc(bar.Label), esc(series(c.Series, s)), v)
				x += w
				sum += v
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d">%d%s</text>`, x+4, y+14, sum, esc(c.Unit))
		}
		c.legend(&b, 10, h-12)
		b.WriteString(`</svg>`)
		return b.String()
	}
	width, height, left, right, bottom, top := 720, 240, 64, 60, 60, 12
	plotW, plotH := width-left-right, height-bottom-top
	bw := plotW / len(c.Bars)
	if bw < 3 {
		bw = 3
		width = left + right + bw*len(c.Bars)
		plotW = bw * len(c.Bars)
	}
	total := height + 24
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" font-family="sans-serif" font-size="11">`, width, total, width, total, esc(c.Title))
	// y axis: round ticks (1, 2 or 5 times a power of ten) with grid lines, so values can be read off.
	tickStep, tickMax := niceTicks(max, 5)
	for v := int64(0); v <= tickMax; v += tickStep {
		y := top + plotH - scaled(plotH, v, tickMax)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%d" x2="%d" y2="%d" stroke="#e2e8f0"/><text class="ytick" x="%d" y="%d" text-anchor="end">%s</text>`,
			left, y, left+plotW, y, left-4, y+4, humanInt(v))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, left, top+plotH, left+plotW, top+plotH)
	step := 1 + (len(c.Bars)-1)/12
	for i, bar := range c.Bars {
		x := left + i*bw
		y := top + plotH
		for s, v := range bar.Values {
			h := scaled(plotH, v, tickMax)
			if v > 0 && h < minMark {
				// A rare value (1 blocked statement among thousands) would round to nothing: every non-zero
				// segment is drawn at least minMark pixels high, and marked above the bar when it is not the
				// first series, so it cannot be missed; the tooltip has the exact number.
				h = minMark
				if s > 0 {
					fmt.Fprintf(&b, `<circle class="rare" cx="%d" cy="%d" r="3" fill="%s"><title>%s %s: %d</title></circle>`, x+bw/2, top-6+2, palette[s%len(palette)], esc(bar.Label), esc(series(c.Series, s)), v)
				}
			}
			y -= h
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: %d</title></rect>`, x+1, y, bw-2, h, palette[s%len(palette)], esc(bar.Label), esc(series(c.Series, s)), v)
		}
		if i%step == 0 {
			fmt.Fprintf(&b, `<text class="xtick" x="%d" y="%d" transform="rotate(45 %d %d)">%s</text>`, x+2, top+plotH+12, x+2, top+plotH+12, esc(trunc(bar.Label, 12)))
		}
	}
	c.legend(&b, left, total-6)
	b.WriteString(`</svg>`)
	return b.String()
}

// charW12 is the average advance of a character of 12 px sans-serif, a little generous so labels fit.
const charW12 = 7.2

// minMark is the least height of a non-zero bar segment.
const minMark = 3

// scaled is v as a share of px for a full scale of max (max > 0).
func scaled(px int, v, max int64) int {
	if max <= 0 {
		return 0
	}
	return int(float64(px) * float64(v) / float64(max))
}

// niceTicks returns a tick step of 1, 2 or 5 times a power of ten and the top tick (a multiple of the step
// at or above max) so that there are about n intervals: an axis with at least three labelled values.
func niceTicks(max int64, n int) (step, top int64) {
	if max < 1 {
		max = 1
	}
	raw := float64(max) / float64(n)
	p := int64(1)
	for float64(p)*10 <= raw {
		p *= 10
	}
	step = p
	for _, m := range []int64{1, 2, 5, 10} {
		if float64(p*m) >= raw {
			step = p * m
			break
		}
	}
	top = (max + step - 1) / step * step
	if top/step < 2 { // at least 0, step, 2·step
		top = 2 * step
	}
	return step, top
}

// humanInt prints 12000 as 12k and 1500000 as 1.5M for the axis.
func humanInt(v int64) string {
	switch {
	case v >= 1_000_000 && v%100_000 == 0:
		return strconv.FormatFloat(float64(v)/1e6, 'f', -1, 64) + "M"
	case v >= 1000 && v%100 == 0:
		return strconv.FormatFloat(float64(v)/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatInt(v, 10)
}

func (c BarChart) legendWidth() int {
	w := 0
	for _, name := range c.Series {
		w += 20 + 7*len(name)
	}
	return w
}

func (c BarChart) legend(b *strings.Builder, x, y int) {
	for s, name := range c.Series {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/><text x="%d" y="%d">%s</text>`, x, y-9, palette[s%len(palette)], x+14, y, esc(name))
		x += 20 + 7*len(name)
	}
}

func series(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return ""
}

func trunc(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func esc(s string) string { return html.EscapeString(s) }
