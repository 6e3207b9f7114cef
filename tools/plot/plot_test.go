package plot

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// wellFormed fails unless svg parses as XML with an <svg> root and no
// reference to another file.
func wellFormed(t *testing.T, svg []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			for _, a := range se.Attr {
				if a.Name.Local == "href" {
					t.Errorf("svg refers to %q: want a self-contained file", a.Value)
				}
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element %q; want svg", root)
	}
}

func TestLinesAndBars(t *testing.T) {
	dir := t.TempDir()
	line, err := Lines(Figure{Title: "Rate", Note: "2 CPUs, 2026-12-04", XTitle: "s", YTitle: "per s",
		Labels: []string{"0", "1", "2"}, Series: []Series{{Name: "sent", Values: []float64{70, 80, 79}}, {Name: "limit", Values: []float64{80, 80, 80}}}})
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, line)
	if !bytes.Contains(line, []byte("2 CPUs, 2026-12-04")) {
		t.Error("the note is not in the figure")
	}
	bars, err := Bars(Figure{Title: "Cold start", Note: "n", YTitle: "ms", Labels: []string{"api"},
		Series: []Series{{Name: "function", Values: []float64{140}}, {Name: "hello", Values: []float64{60}}}})
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, bars)
	if err := Write(filepath.Join(dir, "img", "x.svg"), bars); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "img", "x.svg")); err != nil {
		t.Fatal(err)
	}
	if _, err := Lines(Figure{Title: "bad", Labels: []string{"a"}, Series: []Series{{Name: "s", Values: []float64{1, 2}}}}); err == nil {
		t.Error("a series longer than the labels was accepted")
	}
	if os.Getenv("PLOT_KEEP") != "" {
		_ = os.WriteFile(os.Getenv("PLOT_KEEP")+"/line.svg", line, 0o644)
		_ = os.WriteFile(os.Getenv("PLOT_KEEP")+"/bars.svg", bars, 0o644)
	}
}
