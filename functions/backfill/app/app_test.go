package app_test

import (
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/leadluence/backend/functions/backfill/app"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
	"github.com/leadluence/backend/tools/intaketest"
	"github.com/leadluence/backend/tools/leakscan"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

func TestBackfillIngestsMissedLeadsOnce(t *testing.T) {
	res := devstacktest.Fresh(t)
	e := intaketest.New(t, res.AWS, res.TableName, res.KeyID)
	cfg := config.Backfill{TableName: res.TableName, KeyID: res.KeyID, GraphBaseURL: e.Sim.URL, GraphVersion: e.Sim.Version(), DefaultRegion: "IN"}
	// Its log must carry none of the leads' data nor the page's token.
	log := leakscan.Checked(t, "backfill",
		leakscan.Marker{Name: "lead name", Value: "Missed One"}, leakscan.Marker{Name: "lead name", Value: "Missed Two"},
		leakscan.Marker{Name: "lead email", Value: "missed1@example.com"}, leakscan.Marker{Name: "lead email", Value: "old@example.com"},
		leakscan.Marker{Name: "lead email", Value: "fresh@example.com"}, leakscan.Marker{Name: "lead phone", Value: "+919811122233"},
		leakscan.Marker{Name: "page token", Value: intaketest.PageToken, Secret: true},
		leakscan.Marker{Name: "whatsapp token", Value: intaketest.WAToken, Secret: true})
	run, err := app.New(e.Ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	// Two leads whose webhooks never arrived, one from before the page was
	// connected (not ours to collect).
	now := time.Now().UTC().Truncate(time.Second)
	e.Sim.AddLead(intaketest.FormID, map[string][]string{"full_name": {"Missed One"}, "email": {"missed1@example.com"}}, now.Add(-10*time.Minute))
	e.Sim.AddLead(intaketest.FormID, map[string][]string{"full_name": {"Missed Two"}, "phone_number": {"+919811122233"}}, now.Add(-5*time.Minute))
	e.Sim.AddLead(intaketest.FormID, map[string][]string{"full_name": {"Too Old"}, "email": {"old@example.com"}}, now.Add(-3*time.Hour))

	count := func() int {
		res, err := e.Store.ListLeads(e.Ctx, e.OrgID, lead.Filter{}, 100, page.Cursor{})
		if err != nil {
			t.Fatal(err)
		}
		return len(res.Items)
	}
	if err := run(e.Ctx, events.EventBridgeEvent{DetailType: "Scheduled Event"}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("after backfill the org has %d leads, want 2", n)
	}
	// Running again, or the late webhook for one of them, adds nothing.
	if err := run(e.Ctx, events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("second backfill left %d leads, want 2", n)
	}
	in, err := e.Store.GetIntegration(e.Ctx, e.OrgID, "facebook_page", intaketest.PageID)
	if err != nil || !in.BackfillSince.Equal(now.Add(-5*time.Minute)) {
		t.Fatalf("backfill position %v (%v), want the newest lead's time", in.BackfillSince, err)
	}
	// A new lead after that is picked up by the next run.
	e.Sim.AddLead(intaketest.FormID, map[string][]string{"full_name": {"Fresh"}, "email": {"fresh@example.com"}}, now)
	if err := run(e.Ctx, events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("after a new lead the org has %d leads, want 3", n)
	}
}
