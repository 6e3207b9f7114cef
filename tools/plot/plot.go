// Package plot writes the benchmark report's figures as self-contained SVG
// files (github.com/go-analyze/charts): line charts (a latency distribution,
// a rate per second against its limit) and grouped bar charts (cold starts
// against a baseline). Every figure carries a note of the machine and the
// date it was measured on, under its title.
package plot

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-analyze/charts"
)

// Size of every figure, in SVG user units (pixels).
const (
	width  = 900
	height = 480
)

// Series is one named row of values, one value per x label or category.
type Series struct {
	Name   string
	Values []float64
}

// Figure is what every chart has: a title, the note of machine and date
// shown under it, the axes' titles and the x labels (or bar categories).
type Figure struct {
	Title, Note    string
	XTitle, YTitle string
	Labels         []string
	Series         []Series
	// LabelCount, when positive, is about how many x labels are shown.
	LabelCount int
}

func (f Figure) check() error {
	if len(f.Series) == 0 {
		return fmt.Errorf("figure %q: no series", f.Title)
	}
	for _, s := range f.Series {
		if len(s.Values) != len(f.Labels) {
			return fmt.Errorf("figure %q: series %q has %d values for %d labels", f.Title, s.Name, len(s.Values), len(f.Labels))
		}
	}
	return nil
}

func (f Figure) data() ([][]float64, []string) {
	values := make([][]float64, len(f.Series))
	names := make([]string, len(f.Series))
	for i, s := range f.Series {
		values[i], names[i] = s.Values, s.Name
	}
	return values, names
}

func painter() *charts.Painter {
	return charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: width, Height: height})
}

// Lines renders f as a line chart.
func Lines(f Figure) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	values, names := f.data()
	opt := charts.NewLineChartOptionWithData(values)
	opt.Title = title(f)
	opt.Padding = charts.NewBoxEqual(20)
	opt.XAxis.Labels, opt.XAxis.Title = f.Labels, f.XTitle
	if f.LabelCount > 0 {
		opt.XAxis.LabelCount = f.LabelCount
	}
	opt.YAxis = []charts.YAxisOption{{Title: f.YTitle, Min: charts.Ptr(0.0)}}
	opt.Legend = legend(names)
	opt.Symbol = charts.Symbol{Shape: charts.SymbolNone}
	opt.LineStrokeWidth = 1.5
	p := painter()
	if err := p.LineChart(opt); err != nil {
		return nil, fmt.Errorf("line chart %q: %w", f.Title, err)
	}
	return render(p, f.Title)
}

// Bars renders f as a grouped bar chart: one group per label, one bar per
// series.
func Bars(f Figure) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	values, names := f.data()
	opt := charts.NewBarChartOptionWithData(values)
	opt.Title = title(f)
	opt.Padding = charts.NewBoxEqual(20)
	opt.CategoryAxis.Labels, opt.CategoryAxis.Title = f.Labels, f.XTitle
	opt.ValueAxis = []charts.ValueAxisOption{{Title: f.YTitle, Min: charts.Ptr(0.0)}}
	opt.Legend = legend(names)
	opt.SeriesLabelPosition = charts.PositionTop
	for i := range opt.SeriesList {
		opt.SeriesList[i].Label.Show = charts.Ptr(true)
	}
	p := painter()
	if err := p.BarChart(opt); err != nil {
		return nil, fmt.Errorf("bar chart %q: %w", f.Title, err)
	}
	return render(p, f.Title)
}

// title is the figure's title, left, with the note in a smaller font
// under it.
func title(f Figure) charts.TitleOption {
	return charts.TitleOption{Text: f.Title, Subtext: f.Note, Offset: charts.OffsetLeft,
		FontStyle: charts.NewFontStyleWithSize(15), SubtextFontStyle: charts.NewFontStyleWithSize(11)}
}

// legend is the series' names in a row under the chart.
func legend(names []string) charts.LegendOption {
	return charts.LegendOption{SeriesNames: names, Offset: charts.OffsetStr{Left: charts.PositionCenter, Top: charts.PositionBottom},
		FontStyle: charts.NewFontStyleWithSize(11)}
}

func render(p *charts.Painter, title string) ([]byte, error) {
	b, err := p.Bytes()
	if err != nil {
		return nil, fmt.Errorf("render %q: %w", title, err)
	}
	return b, nil
}

// Write writes svg to path, creating its folder.
func Write(path string, svg []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, svg, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
