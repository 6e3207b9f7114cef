package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

func TestSetAndShow(t *testing.T) {
	env := devstacktest.Fresh(t)
	store := dynamostore.New(dynamodb.NewFromConfig(env.AWS), env.TableName)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := store.CreateOrg(ctx, account.Org{ID: "org1", Name: "Acme", CreatedAt: now},
		account.User{ID: "u1", OrgID: "org1", Name: "O", Email: "plan-owner@acme.test", Role: account.RoleOwner, Active: true, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	cmd := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append(args, "-table", env.TableName), &out, &errOut, time.Now)
		return code, out.String(), errOut.String()
	}
	// The flags may follow the arguments, as in make plan ARGS="set <org> growth -local".
	if code, out, errOut := cmd("set", "org1", "growth"); code != exitOK || !strings.Contains(out, "growth") {
		t.Fatalf("set: %d %q %q", code, out, errOut)
	}
	if p, err := store.OrgPlan(ctx, "org1"); err != nil || p != plan.Growth {
		t.Fatalf("plan = %q, %v", p, err)
	}
	if code, out, _ := cmd("show", "org1"); code != exitOK || !strings.Contains(out, "plan growth") || !strings.Contains(out, "leads_per_month\t0 of 10000") ||
		!strings.Contains(out, "users\t1 of 15\tnow") {
		t.Fatalf("show: %d %q", code, out)
	}
	// A gauge kept wrong (an org from before the gauges) is set right.
	if code, out, errOut := cmd("recount", "org1"); code != exitOK || !strings.Contains(out, "users\t1") || !strings.Contains(out, "integrations\t0") {
		t.Fatalf("recount: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := cmd("set", "org1", "gold"); code != exitUsage || !strings.Contains(errOut, "unknown plan") {
		t.Fatalf("unknown plan: %d %q", code, errOut)
	}
	if code, _, errOut := cmd("set", "nope", "free"); code != exitError || !strings.Contains(errOut, "no org nope") {
		t.Fatalf("missing org: %d %q", code, errOut)
	}
}
