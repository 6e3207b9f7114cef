package replay

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// barWidth is the number of cells of the progress bar.
const barWidth = 30

// redrawEvery throttles redrawing the bar on a terminal.
const redrawEvery = 50 * time.Millisecond

// Bar shows Replay's progress. On a terminal it redraws one line in place
// with \r (a bar, done/total and the counts) and prints each skipped or
// failed message on its own line above it; elsewhere (a pipe, a file, CI)
// it prints one plain line per message instead, so logs stay readable.
type Bar struct {
	w     io.Writer
	tty   bool
	drawn time.Time
	last  Progress
	// stale is set when last has not been drawn yet.
	stale bool
}

// NewBar returns a Bar writing to w, drawing in place when tty is set.
func NewBar(w io.Writer, tty bool) *Bar { return &Bar{w: w, tty: tty} }

// Update shows p; it is meant as Options.Progress.
func (b *Bar) Update(p Progress) {
	b.last, b.stale = p, true
	line := p.Last.Outcome.String() + " " + OneLine(p.Last.ID)
	if p.Last.Err != nil {
		line += ": " + OneLine(p.Last.Err.Error())
	}
	if !b.tty {
		fmt.Fprintln(b.w, line)
		return
	}
	if p.Last.Outcome != Moved {
		fmt.Fprintf(b.w, "\r\x1b[K%s\n", line)
		b.draw(p)
		return
	}
	if time.Since(b.drawn) >= redrawEvery || (p.Total > 0 && p.Done >= p.Total) {
		b.draw(p)
	}
}

// Finish draws the final state and ends the bar's line; call it once after
// Replay returns. It prints nothing when no message was handled or when
// not on a terminal.
func (b *Bar) Finish() {
	if !b.tty || b.last.Done == 0 {
		return
	}
	if b.stale {
		b.draw(b.last)
	}
	fmt.Fprintln(b.w)
}

func (b *Bar) draw(p Progress) {
	b.drawn, b.stale = time.Now(), false
	fmt.Fprintf(b.w, "\r\x1b[K%s", BarLine(p))
}

// BarLine renders p as one line: "[#####.....] 12/40 moved 10 skipped 1
// failed 1". When the total is unknown or already passed, done counts as
// the total.
func BarLine(p Progress) string {
	total := max(p.Total, p.Done)
	filled := barWidth
	if total > 0 {
		filled = p.Done * barWidth / total
	}
	return fmt.Sprintf("[%s%s] %d/%d  moved %d  skipped %d  failed %d",
		strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), p.Done, total, p.Moved, p.Skipped, p.Failed)
}
