package summary

import (
	"fmt"
	"html"
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
		rowH, labelW, width := 22, 260, 640
		h := len(c.Bars)*rowH + 40
		plot := width - labelW - 60
		fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s" font-family="sans-serif" font-size="12">`, width, h, esc(c.Title))
		for i, bar := range c.Bars {
			y := 10 + i*rowH
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+14, esc(trunc(bar.Label, 40)))
			x := labelW
			var sum int64
			for s, v := range bar.Values {
				w := int(float64(plot) * float64(v) / float64(max))
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
	width, height, left, bottom, top := 640, 240, 50, 50, 10
	plotW, plotH := width-left-10, height-bottom-top
	bw := plotW / len(c.Bars)
	if bw < 2 {
		bw = 2
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" aria-label="%s" font-family="sans-serif" font-size="11">`, width, height+20, esc(c.Title))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, left, top+plotH, left+plotW, top+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%d</text><text x="%d" y="%d" text-anchor="end">0</text>`, left-4, top+8, max, left-4, top+plotH)
	step := 1 + len(c.Bars)/12
	for i, bar := range c.Bars {
		x := left + i*bw
		y := top + plotH
		for s, v := range bar.Values {
			h := int(float64(plotH) * float64(v) / float64(max))
			y -= h
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: %d</title></rect>`, x+1, y, bw-2, h, palette[s%len(palette)], esc(bar.Label), esc(series(c.Series, s)), v)
		}
		if i%step == 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" transform="rotate(45 %d %d)">%s</text>`, x+2, top+plotH+12, x+2, top+plotH+12, esc(trunc(bar.Label, 12)))
		}
	}
	c.legend(&b, left, height+14)
	b.WriteString(`</svg>`)
	return b.String()
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
