package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/leadluence/backend/infra/topology"
)

// The api is judged on an unauthenticated request, with its health check
// and a signed-in request measured beside it; every other function gets
// one event of the kind it serves, and a scheduled function the event its
// schedule sends.
func TestFleetEvents(t *testing.T) {
	st := topology.Default()
	signIns := 0
	token := func() (string, error) { signIns++; return "tok", nil }
	for _, fn := range st.Functions {
		cases, err := fleetEvent(fn, token)
		if err != nil {
			t.Fatalf("%s: %v", fn.Name, err)
		}
		if len(cases) == 0 || cases[0].Variant != "" {
			t.Fatalf("%s: first case %+v, want the one its goals are judged on", fn.Name, cases)
		}
		switch {
		case fn.Name == "api":
			if len(cases) != 3 {
				t.Fatalf("api has %d cases, want 3", len(cases))
			}
			var first, signedIn events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(cases[0].Payload, &first); err != nil || first.RouteKey != "GET /v1/leads" || first.Headers["authorization"] != "" {
				t.Errorf("api's judged event %s (%v), want GET /v1/leads without a token", cases[0].Payload, err)
			}
			if err := json.Unmarshal(cases[2].Payload, &signedIn); err != nil || signedIn.Headers["authorization"] != "Bearer tok" {
				t.Errorf("api's signed-in event %s (%v)", cases[2].Payload, err)
			}
			unauthorized, _ := json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 401})
			if cases[0].Check(unauthorized) != nil || cases[2].Check(unauthorized) == nil {
				t.Error("the api's checks do not tell 401 apart")
			}
		case len(fn.Routes) == 0 && fn.Consumes == nil:
			var ev events.EventBridgeEvent
			if err := json.Unmarshal(cases[0].Payload, &ev); err != nil || ev.Source != "aws.events" || ev.DetailType != "Scheduled Event" {
				t.Errorf("%s's event %s (%v), want a scheduled event", fn.Name, cases[0].Payload, err)
			}
			if len(fn.Schedules) > 0 && !strings.Contains(string(ev.Detail), fn.Schedules[0].Name) {
				t.Errorf("%s's event detail %s does not name its schedule", fn.Name, ev.Detail)
			}
		}
	}
	if signIns != 1 {
		t.Errorf("signed in %d times, want once (for the api)", signIns)
	}
	api, _ := st.Function("api")
	if _, err := fleetEvent(api, func() (string, error) { return "", errors.New("no") }); err == nil {
		t.Error("a failed sign-in did not fail the api's events")
	}
}

// Only the judged row carries verdicts; the others' are in parentheses.
func TestFleetMarkdownJudgesOneRowPerFunction(t *testing.T) {
	d := []time.Duration{40 * time.Millisecond}
	h := []time.Duration{10 * time.Millisecond}
	rows := []fleetRow{
		{Name: "api", Event: "judged", RIE: d, HelloRIE: h, Init: d, HelloInit: h, Invoke: h},
		{Name: "api", Variant: "health", Event: "shown", RIE: d, HelloRIE: h, Init: d, HelloInit: h, Invoke: h},
	}
	md := fleetMarkdown(rows, []sizeRow{{Name: "api", Bytes: 1}})
	var judged, shown string
	for _, line := range strings.Split(md, "\n") {
		switch {
		case strings.HasPrefix(line, "| api | judged"):
			judged = line
		case strings.HasPrefix(line, "| api (health) | shown"):
			shown = line
		}
	}
	if !strings.Contains(judged, "**not met**") || strings.Contains(judged, "(not met)") {
		t.Errorf("judged row %q", judged)
	}
	if strings.Contains(shown, "**not met**") || !strings.Contains(shown, "(not met)") || !strings.Contains(shown, "(met)") {
		t.Errorf("shown row %q", shown)
	}
}
