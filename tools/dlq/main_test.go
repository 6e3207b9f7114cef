package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	o, err := parse([]string{"replay", "-prefix", "x-", "intake", "--id", "a,b", "--id", "c", "-max", "5", "-hold", "1m"})
	if err != nil {
		t.Fatal(err)
	}
	if o.cmd != "replay" || o.queue.Name != "intake" || o.prefix != "x-" || strings.Join(o.ids, " ") != "a b c" || o.all ||
		o.scan.Max != 5 || o.scan.Hold != time.Minute {
		t.Fatalf("parsed %+v", o)
	}
	o, err = parse([]string{"list", "outbound", "-stack", "Leadluence"})
	if err != nil || o.prefix != "Leadluence-" || o.queue.Name != "outbound" || o.scan.Max != 1000 {
		t.Fatalf("parsed %+v, %v", o, err)
	}
	if o, err := parse([]string{"replay", "--all", "--", "intake"}); err != nil || !o.all {
		t.Fatalf("parsed %+v, %v", o, err)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"purge", "intake"},
		{"list"},
		{"list", "intake", "outbound"},
		{"list", "nope"},
		{"list", "intake", "--all"},
		{"replay", "intake"},
		{"replay", "intake", "--all", "--id", "x"},
		{"list", "intake", "-prefix", "a", "-stack", "b"},
		{"list", "intake", "-max", "0"},
		{"list", "intake", "-hold", "0s"},
		{"list", "intake", "-bogus"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr, false); code != exitUsage || !strings.HasPrefix(stderr.String(), "dlq: ") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr.String())
		}
	}
}

func TestHelpExits0(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"list", "-h"}} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr, false); code != exitOK ||
			!strings.Contains(stdout.String(), "dlq replay [flags] <queue>") || !strings.Contains(stdout.String(), "-hold duration") ||
			!strings.Contains(stdout.String(), "(intake") {
			t.Errorf("%q: exit %d, stdout %q", args, code, stdout.String())
		}
	}
}
