package main

import (
	"math"
	"testing"
)

func TestPriced(t *testing.T) {
	u := usage{Units: 10, APIGW: 10, SQS: 12, WRU: 110, RRU: 30, KMS: 1,
		Fns: map[string]fnUsage{"ingest": {Invocations: 1, BilledMS: 100, LogBytes: 1000}}}
	s := priced("inbound", 1_000_000, u, map[string]int{"ingest": 512})
	want := map[string]float64{
		pAPIGW:     1.00,                 // 1 request a message
		pSQS:       1.2 * 0.40,           // 1.2 requests a message
		pWRU:       11 * 0.625,           // 11 WRU a message
		pRRU:       3 * 0.125,            // 3 RRU a message
		pKMS:       0.1 * 3,              // 0.1 requests a message
		pLambdaReq: 0.1 * 0.20,           // one invocation per 10 messages
		pLambdaGBs: 0.01 * 0.5 * 13.3334, // 10 ms × 0.5 GB a message
		pLogs:      (100 + 26) * 0.50 / 1000,
	}
	var total float64
	for _, it := range s.Items {
		total += it.USD
		if w, ok := want[it.Key]; !ok || math.Abs(it.USD-w) > 1e-6 {
			t.Errorf("%s: $%.6f, want $%.6f", it.Item, it.USD, w)
		}
	}
	if math.Abs(total-s.Total) > 1e-9 {
		t.Errorf("total %.6f, items sum to %.6f", s.Total, total)
	}
	for i := 1; i < len(s.Items); i++ {
		if s.Items[i].USD > s.Items[i-1].USD {
			t.Errorf("items not sorted by cost: %v", s.Items)
		}
	}
}

// TestInboundMix: the measured mix weighs each inbound scenario by the
// messages it measured, and leaves the outbound and Lead Ads rows out.
func TestInboundMix(t *testing.T) {
	r := &costResult{Scenarios: []costScenario{
		{Name: "inbound WhatsApp message, first from a new number (new lead)", Per: 1_000_000, U: usage{Units: 20}, Total: 14},
		{Name: "inbound WhatsApp message, from a known lead", Per: 1_000_000, U: usage{Units: 180}, Total: 8},
		{Name: "outbound WhatsApp message", Per: 1_000_000, U: usage{Units: 20}, Total: 30},
		{Name: "Lead Ads lead (new)", Per: 10_000, U: usage{Units: 20}, Total: 0.1},
	}}
	mix, ok := r.inboundMix()
	if want := (20*14.0 + 180*8.0) / 200; !ok || math.Abs(mix.Total-want) > 1e-9 {
		t.Fatalf("mix = %+v %v, want $%.4f", mix, ok, want)
	}
	if _, ok := (&costResult{Scenarios: r.Scenarios[1:]}).inboundMix(); ok {
		t.Fatal("a mix of one inbound scenario")
	}
}
