package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/leadluence/backend/tools/load/figures"
	"github.com/leadluence/backend/tools/plot"
)

// The report's SVG figures, under docs/ (the Figures section refers to them
// relative to docs/benchmarks.md). Each figure notes the machine and date
// of the run it draws. The load run's latency figure and its Load section
// come from docs/load.json, which `make load` writes: a full bench run does
// not repeat the load run (it would load the machine for a minute more and
// the other figures with it), it renders the last one again.
const (
	coldSVG   = "img/bench-coldstart.svg"
	pacingSVG = "img/bench-pacing.svg"
)

// note is the machine and date line of a figure.
func (m machineInfo) note(date time.Time) string {
	s := fmt.Sprintf("%s, %d CPUs", date.UTC().Format("2006-01-02 15:04 MST"), m.CPUs)
	if m.CPUModel != "" {
		s += " (" + m.CPUModel + ")"
	}
	return s + fmt.Sprintf(", %s/%s, %s; shared machine", m.GOOS, m.GOARCH, m.GoVersion)
}

// coldSeries is the cold starts of one bootstrap.
type coldSeries struct {
	Name    string
	Samples []time.Duration
}

// coldSeriesOf lists the bootstraps whose cold starts the figure shows: each
// function measured, then the hello-world baseline. With every function's
// cold starts (fleet), each is shown and hello-world pools the runs paired
// with them; without, the api's series and its hello-world.
func coldSeriesOf(c coldResult, fleet []fleetRow) []coldSeries {
	if len(fleet) == 0 {
		return []coldSeries{{Name: benchFn, Samples: c.API}, {Name: "hello-world", Samples: c.Hello}}
	}
	out := make([]coldSeries, 0, len(fleet)+1)
	var hello []time.Duration
	for _, f := range fleet {
		out = append(out, coldSeries{Name: f.Label(), Samples: f.RIE})
		hello = append(hello, f.HelloRIE...)
	}
	return append(out, coldSeries{Name: "hello-world", Samples: hello})
}

// coldRuns is how many cold starts each series of the figure holds.
func coldRuns(r *report) int {
	if len(r.Fleet) > 0 {
		return len(r.Fleet[0].RIE)
	}
	return r.N
}

// coldFigure draws the median and p90 cold start of each bootstrap.
func coldFigure(cs []coldSeries, n int, note string) ([]byte, error) {
	var labels []string
	med, p90 := plot.Series{Name: "median"}, plot.Series{Name: "p90"}
	for _, c := range cs {
		if len(c.Samples) == 0 {
			continue
		}
		labels = append(labels, c.Name)
		med.Values = append(med.Values, ms(median(c.Samples)))
		p90.Values = append(p90.Values, ms(percentile(c.Samples, 90)))
	}
	if len(labels) == 0 {
		return nil, errors.New("cold start figure: no samples")
	}
	return plot.Bars(plot.Figure{Title: fmt.Sprintf("Cold start under aws-lambda-rie, process start to first response (ms, n=%d each)", n),
		Note: note, YTitle: "ms", Labels: labels, Series: []plot.Series{med, p90}})
}

// pacingFigure draws the sender's sends in each second (the simulator's
// clock) against the number's limit.
func pacingFigure(p pacingResult, note string) ([]byte, error) {
	if len(p.PerSecond) == 0 {
		return nil, errors.New("pacing figure: no sends")
	}
	labels := make([]string, len(p.PerSecond))
	sent, limit := plot.Series{Name: "sends in the second"}, plot.Series{Name: fmt.Sprintf("limit (%d a second)", p.Rate)}
	for i, n := range p.PerSecond {
		labels[i] = strconv.Itoa(i)
		sent.Values = append(sent.Values, float64(n))
		limit.Values = append(limit.Values, float64(p.Rate))
	}
	return plot.Lines(plot.Figure{Title: fmt.Sprintf("Sender pacing: %d messages to %d recipients, one number, %d pollers", p.Messages, p.Recipients, p.Pollers),
		Note: note, XTitle: "second of the run", YTitle: "sends", Labels: labels, Series: []plot.Series{sent, limit}, LabelCount: 13})
}

// writeFigure renders a figure and writes it under the folder of out (docs/).
func writeFigure(out, rel string, render func() ([]byte, error)) error {
	svg, err := render()
	if err != nil {
		return err
	}
	return plot.Write(filepath.Join(filepath.Dir(out), rel), svg)
}

// withFigures writes the cold start and pacing figures of a full run and
// the load run's figure from docs/load.json (when there is one), and
// splices the Figures and Load sections into doc.
func withFigures(doc, out string, r *report, ob *outboundResult) (string, error) {
	note := r.Machine.note(r.Date)
	if err := writeFigure(out, coldSVG, func() ([]byte, error) { return coldFigure(coldSeriesOf(r.Cold, r.Fleet), coldRuns(r), note) }); err != nil {
		return doc, err
	}
	if err := writeFigure(out, pacingSVG, func() ([]byte, error) { return pacingFigure(ob.Pacing, note) }); err != nil {
		return doc, err
	}
	doc = spliceNamed(doc, "Figures", figuresSection())
	return withLoad(doc, out)
}

// withLoad renders the Load section and its figure from the load run's
// JSON next to out, if there is one.
func withLoad(doc, out string) (string, error) {
	path := filepath.Join(filepath.Dir(out), filepath.Base(figures.JSONPath))
	if _, err := os.Stat(path); err != nil {
		return doc, nil //nolint:nilerr // no load run yet: no Load section
	}
	lr, err := figures.Load(path)
	if err != nil {
		return doc, err
	}
	if err := writeFigure(out, figures.SVGLink, lr.SVG); err != nil {
		return doc, err
	}
	return spliceNamed(doc, "Load", lr.Markdown()), nil
}

// figuresSection refers to the figures; each notes its own machine and date.
func figuresSection() string {
	return "\n## Figures\n\n" +
		"Drawn by `make bench` from the run above (each figure notes its machine and date; the machine is shared, so read\n" +
		"the ratios). The load run's latency figure is in [Load](#load).\n\n" +
		"Cold start of each measured function against the hello-world bootstrap, under the emulator (see\n" +
		"[Method](#method)):\n\n" +
		"![Cold start of each function against hello-world](" + coldSVG + ")\n\n" +
		"The sender's sends in each second of the pacing backlog against the number's limit (see [Outbound](#outbound)):\n\n" +
		"![Sender sends per second against the limit](" + pacingSVG + ")\n"
}
