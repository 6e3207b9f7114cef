package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/tools/devstack"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

func TestMain(m *testing.M) { os.Exit(devstack.RunTests(m)) }

type sesMail struct {
	From        string `json:"from"`
	Subject     string `json:"subject"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Body struct {
		Text string `json:"text"`
	} `json:"body"`
}

// mailsTo returns the mails the SES stand-in holds for addr.
func mailsTo(t *testing.T, addr string) []sesMail {
	t.Helper()
	resp, err := http.Get(strings.TrimRight(os.Getenv("AWS_ENDPOINT_URL_SESV2"), "/") + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Emails []sesMail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	var out []sesMail
	for _, m := range st.Emails {
		if len(m.Destination.To) == 1 && m.Destination.To[0] == addr {
			out = append(out, m)
		}
	}
	return out
}

type fixture struct {
	store  *dynamostore.Store
	table  string
	owners []account.User
	others []account.User
}

// orgs creates n orgs with an owner each, an admin in the first, and an
// org whose first owner was made an admin once a second owner joined.
func orgs(t *testing.T, n int) fixture {
	t.Helper()
	ctx := context.Background()
	env := devstacktest.Fresh(t)
	f := fixture{store: dynamostore.New(dynamodb.NewFromConfig(env.AWS), env.TableName), table: env.TableName}
	run := time.Now().UnixNano()
	user := func(orgID string, role account.Role, i int) account.User {
		return account.User{ID: ulid.Make().String(), OrgID: orgID, Name: fmt.Sprintf("%s %d", role, i), Role: role, Active: true,
			Email: fmt.Sprintf("%s.%d.%d@example.com", role, i, run), PasswordHash: "x", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	}
	for i := range n + 1 {
		org := account.Org{ID: ulid.Make().String(), Name: fmt.Sprintf("Org %d", i), DefaultRegion: "IN", CreatedAt: time.Now()}
		owner := user(org.ID, account.RoleOwner, i)
		if err := f.store.CreateOrg(ctx, org, owner); err != nil {
			t.Fatal(err)
		}
		if i == n {
			// An org keeps an active owner: a second one joins first.
			keeper := user(org.ID, account.RoleOwner, 200+i)
			if err := f.store.CreateUser(ctx, keeper); err != nil {
				t.Fatal(err)
			}
			f.owners = append(f.owners, keeper)
			owner.Role = account.RoleAdmin
			if err := f.store.UpdateUser(ctx, owner); err != nil {
				t.Fatal(err)
			}
			f.others = append(f.others, owner)
			continue
		}
		f.owners = append(f.owners, owner)
		if i == 0 {
			admin := user(org.ID, account.RoleAdmin, 100)
			if err := f.store.CreateUser(ctx, admin); err != nil {
				t.Fatal(err)
			}
			f.others = append(f.others, admin)
		}
	}
	return f
}

func TestOwnersIndexPages(t *testing.T) {
	f := orgs(t, 3)
	seen := map[string]bool{}
	var from page.Cursor
	for pages := 0; ; pages++ {
		list, next, err := f.store.OrgOwners(context.Background(), 2, from)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range list {
			seen[u.ID] = true
		}
		if next.IsZero() {
			break
		}
		if pages > 5 {
			t.Fatal("owners never end")
		}
		from = next
	}
	if len(seen) != len(f.owners) {
		t.Fatalf("listed %d owners, want %d", len(seen), len(f.owners))
	}
	for _, u := range f.owners {
		if !seen[u.ID] {
			t.Errorf("owner %s not listed", u.Email)
		}
	}
}

func TestPublish(t *testing.T) {
	f := orgs(t, 3)
	now := func() time.Time { return time.Date(2027, 1, 5, 9, 30, 0, 0, time.UTC) }
	const from = "policy@leadluence.local"
	cmd := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append(args, "-table", f.table, "-from", from), &out, &errOut, now)
		return code, out.String(), errOut.String()
	}

	code, _, errOut := cmd("publish", "--version", "2027-01", "--effective", "2027-01-19", "--summary", "Shorter retention.")
	if code != exitRefused || !strings.Contains(errOut, "less than 14 days ahead") || !strings.Contains(errOut, "2027-01-20") {
		t.Fatalf("13 days ahead: exit %d, %q", code, errOut)
	}
	if got := mailsTo(t, f.owners[0].Email); len(got) != 0 {
		t.Fatalf("a refused version was mailed: %+v", got)
	}

	code, out, errOut := cmd("publish", "--version", "2027-01", "--effective", "2027-01-20", "--summary", "Messages are kept for two years.")
	if code != exitOK || !strings.Contains(out, "published 2027-01, effective 2027-01-20; emailed 4 org owner(s)") {
		t.Fatalf("publish: exit %d, %q %q", code, out, errOut)
	}
	for _, u := range f.owners {
		got := mailsTo(t, u.Email)
		if len(got) != 1 || got[0].From != from || !strings.Contains(got[0].Subject, "20 January 2027") ||
			!strings.Contains(got[0].Body.Text, "Messages are kept for two years.") || !strings.Contains(got[0].Body.Text, "Version 2027-01") {
			t.Fatalf("mail to owner %s: %+v", u.Email, got)
		}
	}
	for _, u := range f.others {
		if got := mailsTo(t, u.Email); len(got) != 0 {
			t.Fatalf("mail to a non-owner %s: %+v", u.Email, got)
		}
	}

	code, _, errOut = cmd("publish", "--version", "2027-01", "--effective", "2027-02-20", "--summary", "Again.")
	if code != exitRefused || !strings.Contains(errOut, "published before") {
		t.Fatalf("same id again: exit %d, %q", code, errOut)
	}
	if got := mailsTo(t, f.owners[0].Email); len(got) != 1 {
		t.Fatalf("a second publish mailed again: %d mails", len(got))
	}

	code, out, _ = cmd("list")
	if code != exitOK || !strings.Contains(out, "2027-01\teffective 2027-01-20") || !strings.Contains(out, "(upcoming)") {
		t.Fatalf("list: exit %d, %q", code, out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"nope"}, {"publish", "--version", "x"}, {"publish", "--version", "x", "--effective", "soon", "--summary", "s"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut, time.Now); code != exitUsage {
			t.Errorf("%q: exit %d, want %d (%s)", args, code, exitUsage, errOut.String())
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &out, time.Now); code != exitOK || !strings.Contains(out.String(), "14 days") {
		t.Fatalf("-h: %d %q", code, out.String())
	}
}
