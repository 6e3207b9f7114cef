package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	importer "github.com/leadluence/backend/functions/importer/app"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/logging"
)

// runImports has the importer apply every chunk on the imports queue.
func (e *testEnv) runImports(t *testing.T, chunks int) {
	t.Helper()
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load[config.Importer]()
	if err != nil {
		t.Fatal(err)
	}
	h, err := importer.New(ctx, cfg, logging.New(io.Discard, slog.LevelInfo))
	if err != nil {
		t.Fatal(err)
	}
	q := sqs.NewFromConfig(awsCfg)
	for got, try := 0, 0; got < chunks && try < 20; try++ {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.cfg.ImportsQueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			got++
			resp, err := h(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), EventSource: "aws:sqs"}}})
			if err != nil || len(resp.BatchItemFailures) > 0 {
				t.Fatalf("chunk failed: %+v %v", resp, err)
			}
		}
	}
}

func TestImportJobs(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Import Jobs Realty")
	manager := e.member(t, owner, "manager")
	agent := e.member(t, owner, "agent")
	e.createLead(t, owner, map[string]any{"name": "Typed Name", "phone": "+919876500201", "tags": []string{"vip"}})

	file := "Full Name,Mobile,Mail,Remarks\n" +
		"Ravi,+919876500201,ravi@example.com,x\n" + // merges into the typed lead
		"Meera,+919876500202,,y\n" + // created
		"Kiran,+919876500203,not-an-email,z\n" // rejected: invalid email
	q := "?" + url.Values{"map.Full Name": {"name"}, "map.Mobile": {"phone"}, "map.Mail": {"email"}}.Encode()

	// The mapping is checked at once: a column the header lacks, a field
	// that does not exist, both named.
	r := e.do(t, "POST", "/v1/imports?map.Phone=phone&map.Full%20Name=name", manager.Access, file, "Content-Type", "text/csv")
	problemCode(t, r, 422, "invalid_csv")
	if !strings.Contains(r.Raw, "Phone") {
		t.Fatalf("the problem does not name the column: %s", r.Raw)
	}
	r = e.do(t, "POST", "/v1/imports", manager.Access, map[string]any{"csv": file, "mapping": map[string]string{"Full Name": "name", "Mobile": "mobile"}})
	problemCode(t, r, 422, "invalid_csv")
	if !strings.Contains(r.Raw, "Mobile") {
		t.Fatalf("the problem does not name the column: %s", r.Raw)
	}
	problemCode(t, e.do(t, "POST", "/v1/imports"+q, agent.Access, file, "Content-Type", "text/csv"), 403, "forbidden")
	problemCode(t, e.do(t, "GET", "/v1/imports", agent.Access, nil), 403, "forbidden")

	// The file as text/csv, the mapping in the query: 202, running.
	r = e.do(t, "POST", "/v1/imports"+q, manager.Access, file, "Content-Type", "text/csv")
	expect(t, r, 202)
	id := r.str("id")
	if r.str("status") != "running" || r.Header.Get("Location") != "/v1/imports/"+id || r.Body["rows"] != float64(3) {
		t.Fatalf("submitted %d %v: %s", r.Status, r.Header, r.Raw)
	}
	// The same file and mapping again, as JSON: the same import, 200.
	again := e.do(t, "POST", "/v1/imports", owner.Access, map[string]any{"csv": file,
		"mapping": map[string]string{"Full Name": "name", "Mobile": "phone", "Mail": "email"}})
	expect(t, again, 200)
	if again.str("id") != id {
		t.Fatalf("the same file started import %s, not %s", again.str("id"), id)
	}
	if got := e.do(t, "GET", "/v1/imports/"+id, owner.Access, nil); got.str("status") != "running" {
		t.Fatalf("before the importer ran: %s", got.Raw)
	}

	e.runImports(t, 1)
	r = e.do(t, "GET", "/v1/imports/"+id, manager.Access, nil)
	expect(t, r, 200)
	var got struct {
		Status                    string
		Rows, Processed           int
		Created, Merged, Rejected int
		RejectedRows              []struct {
			Row           int
			Reason, Field string
		} `json:"rejected_rows"`
		RejectedRowsTruncated bool `json:"rejected_rows_truncated"`
	}
	if err := json.Unmarshal([]byte(r.Raw), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status != "done" || got.Processed != 3 || got.Created != 1 || got.Merged != 1 || got.Rejected != 1 || len(got.RejectedRows) != 1 ||
		got.RejectedRows[0].Row != 4 || got.RejectedRows[0].Reason != "invalid" || got.RejectedRows[0].Field != "email" || got.RejectedRowsTruncated {
		t.Fatalf("import %s", r.Raw)
	}
	list := e.do(t, "GET", "/v1/imports", owner.Access, nil)
	if items := list.items(); len(items) != 1 || items[0]["id"] != id || items[0]["status"] != "done" {
		t.Fatalf("imports %s", list.Raw)
	}

	// The typed lead kept its name; the row filled its email and nothing
	// else. Exported as JSON Lines, one lead a line.
	req, err := http.NewRequest("GET", e.srv.URL+"/v1/leads/export?format=jsonl", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+owner.Access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/x-ndjson" {
		t.Fatalf("%d, Content-Type %q: %s", resp.StatusCode, ct, raw)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 {
		t.Fatalf("export %q", raw)
	}
	byName := map[string]map[string]any{}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		byName[m["name"].(string)] = m
	}
	if typed := byName["Typed Name"]; typed == nil || typed["email"] != "ravi@example.com" || byName["Meera"] == nil || byName["Meera"]["source"] != "import" {
		t.Fatalf("export %q", raw)
	}
	expect(t, e.do(t, "GET", "/v1/leads/export?format=xml", owner.Access, nil), 422)
}

// A file of megabytes reaches the import routes (each route holds its body
// to its own limit), while every other route still refuses a body over
// 64 KiB with a problem.
func TestImportBodiesOverTheDefaultLimit(t *testing.T) {
	e := newEnv(t)
	owner := e.signup(t, "Large File Realty")
	var b strings.Builder
	b.WriteString("name,phone\n")
	for i := 0; b.Len() < 300<<10; i++ {
		fmt.Fprintf(&b, "Large File Lead %d,+9198777%05d\n", i, i)
	}
	r := e.do(t, "POST", "/v1/imports", owner.Access, b.String(), "Content-Type", "text/csv")
	expect(t, r, 202)
	r = e.do(t, "POST", "/v1/leads/import", owner.Access, map[string]any{"csv": b.String(), "dry_run": true})
	if r.Status == 413 {
		t.Fatalf("the synchronous import refused a %d KiB file: %s", b.Len()>>10, r.Raw)
	}
	r = e.do(t, "POST", "/v1/leads", owner.Access, map[string]any{"name": strings.Repeat("x", 70<<10)})
	problemCode(t, r, 413, "body_too_large")
}
