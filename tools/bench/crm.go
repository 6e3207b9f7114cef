package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"

	accountapp "github.com/leadluence/backend/functions/account/app"
	"github.com/leadluence/backend/functions/api/app"
	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/apigw"
	"github.com/leadluence/backend/shared/config"
	"github.com/leadluence/backend/shared/dynamostore"
	logs "github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/shared/plan"
	"github.com/leadluence/backend/tools/dev/runner"
	"github.com/leadluence/backend/tools/provision"
)

// The CRM figures: what one CRM request costs in DynamoDB calls and
// capacity, measured through the api handler built in-process (as the
// Lambda runs it: authentication, plan usage, audit record included) with
// the capacity meter (capacity.go) on its DynamoDB client. Each operation
// is one entry of crmOperations: its unmetered preparation (the leads a
// column needs, the task a completion completes), then the one metered
// request. A new figure (merging two leads, importing a file) is one more
// entry there.

// crmOp is one measured CRM operation.
type crmOp struct {
	// Name is the operation as the table shows it.
	Name string
	// Note says what the request does, for the table.
	Note string
	// prepare does what the request needs, unmetered, and returns it.
	prepare func(ctx context.Context, c *crmEnv) (crmRequest, error)
}

// crmRequest is the request an operation measures.
type crmRequest struct {
	Method, Path, Route string
	Params              map[string]string
	Body                any
	Want                int
}

// crmBoardSize is the board column the list figure reads.
const crmBoardSize = 50

// crmMergeHistory is the notes each lead of the merge figure has: with
// its created activity, one activity more than notes.
const crmMergeHistory = 199

// crmOperations are the measured operations, in the table's order. They
// run in this order on one org: each may use what the ones before left
// (c.leadID, the column's leads).
func crmOperations() []crmOp {
	leadPath := func(c *crmEnv, tail string) (string, map[string]string) {
		return "/v1/leads/" + c.leadID + tail, map[string]string{"id": c.leadID}
	}
	return []crmOp{
		{Name: "create lead", Note: "name, phone, email, two tags, a custom field; lands in the default pipeline's first stage",
			prepare: func(_ context.Context, c *crmEnv) (crmRequest, error) {
				return crmRequest{Method: "POST", Path: "/v1/leads", Route: "POST /v1/leads", Want: http.StatusCreated,
					Body: map[string]any{"name": "Asha Verma", "phone": "+919876543210", "email": "asha@example.com",
						"tags": []string{"hot", "2bhk"}, "custom_fields": map[string]string{"city": "Pune"}}}, nil
			}},
		{Name: "add note", Note: "a 200-character note",
			prepare: func(_ context.Context, c *crmEnv) (crmRequest, error) {
				p, params := leadPath(c, "/notes")
				return crmRequest{Method: "POST", Path: p, Route: "POST /v1/leads/{id}/notes", Params: params, Want: http.StatusCreated,
					Body: map[string]string{"body": strings.Repeat("Called back, wants a site visit on Saturday. ", 5)[:200]}}, nil
			}},
		{Name: "complete task", Note: "an open task with a reminder, set done",
			prepare: func(ctx context.Context, c *crmEnv) (crmRequest, error) {
				p, params := leadPath(c, "/tasks")
				task, err := c.do(ctx, crmRequest{Method: "POST", Path: p, Route: "POST /v1/leads/{id}/tasks", Params: params, Want: http.StatusCreated,
					Body: map[string]any{"title": "Call back", "due_at": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339), "remind_before_minutes": 30}})
				if err != nil {
					return crmRequest{}, err
				}
				id, _ := task["id"].(string)
				params = map[string]string{"id": c.leadID, "task_id": id}
				return crmRequest{Method: "PATCH", Path: p + "/" + id, Route: "PATCH /v1/leads/{id}/tasks/{task_id}", Params: params,
					Want: http.StatusOK, Body: map[string]string{"status": "done"}}, nil
			}},
		{Name: "move stage", Note: "the lead dragged to the next column (its status follows)",
			prepare: func(_ context.Context, c *crmEnv) (crmRequest, error) {
				p, params := leadPath(c, "")
				return crmRequest{Method: "PATCH", Path: p, Route: "PATCH /v1/leads/{id}", Params: params, Want: http.StatusOK,
					Body: map[string]string{"stage_id": "contacted"}}, nil
			}},
		{Name: fmt.Sprintf("list a board column of %d", crmBoardSize), Note: fmt.Sprintf("`limit=%d` of a column holding %d leads", crmBoardSize, crmBoardSize),
			prepare: func(ctx context.Context, c *crmEnv) (crmRequest, error) {
				for i := range crmBoardSize {
					if _, err := c.do(ctx, crmRequest{Method: "POST", Path: "/v1/leads", Route: "POST /v1/leads", Want: http.StatusCreated,
						Body: map[string]any{"name": fmt.Sprintf("Board Lead %d", i), "phone": fmt.Sprintf("+9198100%05d", i),
							"tags": []string{"board"}, "custom_fields": map[string]string{"city": "Pune"}}}); err != nil {
						return crmRequest{}, err
					}
				}
				return crmRequest{Method: "GET", Path: fmt.Sprintf("/v1/leads?pipeline_id=default&stage_id=new&limit=%d", crmBoardSize),
					Route: "GET /v1/leads", Want: http.StatusOK}, nil
			}},
		{Name: "count the board's stages", Note: fmt.Sprintf("`counts=true` of the default pipeline: six stages (a COUNT Query each), %d leads", crmBoardSize+1),
			prepare: func(context.Context, *crmEnv) (crmRequest, error) {
				return crmRequest{Method: "GET", Path: "/v1/pipelines/default?counts=true", Route: "GET /v1/pipelines/{id}",
					Params: map[string]string{"id": "default"}, Want: http.StatusOK}, nil
			}},
		{Name: fmt.Sprintf("merge two leads with %d activities each", crmMergeHistory+1),
			Note: fmt.Sprintf("each lead: created, then %d notes (a note and its `note_added` activity each); every history item moves", crmMergeHistory),
			prepare: func(ctx context.Context, c *crmEnv) (crmRequest, error) {
				ids := make([]string, 2)
				for i := range ids {
					created, err := c.do(ctx, crmRequest{Method: "POST", Path: "/v1/leads", Route: "POST /v1/leads", Want: http.StatusCreated,
						Body: map[string]any{"name": fmt.Sprintf("Merge Lead %d", i), "phone": fmt.Sprintf("+9198200%05d", i)}})
					if err != nil {
						return crmRequest{}, err
					}
					ids[i], _ = created["id"].(string)
					for n := range crmMergeHistory {
						if _, err := c.do(ctx, crmRequest{Method: "POST", Path: "/v1/leads/" + ids[i] + "/notes", Route: "POST /v1/leads/{id}/notes",
							Params: map[string]string{"id": ids[i]}, Want: http.StatusCreated, Body: map[string]string{"body": fmt.Sprintf("Note %d", n)}}); err != nil {
							return crmRequest{}, err
						}
					}
				}
				return crmRequest{Method: "POST", Path: "/v1/leads/" + ids[0] + "/merge", Route: "POST /v1/leads/{id}/merge",
					Params: map[string]string{"id": ids[0]}, Want: http.StatusOK, Body: map[string]string{"other_lead_id": ids[1]}}, nil
			}},
		{Name: "undo that merge", Note: "both leads back as they were, every moved item moved back",
			prepare: func(_ context.Context, c *crmEnv) (crmRequest, error) {
				id, _ := c.last["id"].(string)
				if id == "" {
					return crmRequest{}, errors.New("the merge answered no id")
				}
				return crmRequest{Method: "POST", Path: "/v1/merges/" + id + "/undo", Route: "POST /v1/merges/{merge_id}/undo",
					Params: map[string]string{"merge_id": id}, Want: http.StatusOK}, nil
			}},
		crmImportOp(),
	}
}

// crmEnv is the api handler with its meter, signed in on a fresh org.
type crmEnv struct {
	h      apigw.HandlerFunc
	meter  *capacityMeter
	token  string
	leadID string
	// last is the answer of the operation measured last.
	last map[string]any
}

// do sends one request through the handler and returns its JSON body.
func (c *crmEnv) do(ctx context.Context, r crmRequest) (map[string]any, error) {
	var raw []byte
	if r.Body != nil {
		var err error
		if raw, err = json.Marshal(r.Body); err != nil {
			return nil, fmt.Errorf("%s: encode body: %w", r.Route, err)
		}
	}
	resp, err := c.h(ctx, mustEvent(r.Method, r.Path, r.Route, r.Params, c.token, raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Route, err)
	}
	if resp.StatusCode != r.Want {
		return nil, fmt.Errorf("%s answered %d, want %d: %s", r.Route, resp.StatusCode, r.Want, resp.Body)
	}
	out := map[string]any{}
	if strings.HasPrefix(strings.TrimSpace(resp.Body), "{") {
		if err := json.Unmarshal([]byte(resp.Body), &out); err != nil {
			return nil, fmt.Errorf("%s: decode response: %w", r.Route, err)
		}
	}
	return out, nil
}

// crmRow is what one operation cost.
type crmRow struct {
	Op    crmOp
	Route string
	Took  time.Duration
	Tot   capacityTotals
}

// crmResult is the CRM section's measurements.
type crmResult struct {
	Date    time.Time
	Elapsed time.Duration
	Machine machineInfo
	Table   string
	Rows    []crmRow
	// Import is what applying the submitted import's rows cost.
	Import *crmImportResult
}

func measureCRM(ctx context.Context) (*crmResult, error) {
	begin := time.Now()
	r := &crmResult{Date: begin.UTC(), Machine: machine(ctx)}
	plainCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(logging.Nop{}))
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	st := topology.Default()
	fn, ok := st.Function(benchFn)
	if !ok {
		return nil, fmt.Errorf("no function %q in infra/topology", benchFn)
	}
	prefix := fmt.Sprintf("bcrm%d-", time.Now().UnixNano()%1e9)
	res, err := provision.Apply(ctx, plainCfg, st, prefix)
	if err != nil {
		return nil, fmt.Errorf("provision %s*: %w", prefix, err)
	}
	r.Table = res.TableName
	env := topology.ResourceEnv(fn, res)
	// The account function serves sign-up and login: its environment too.
	if acct, ok := st.Function("account"); ok {
		for k, v := range topology.ResourceEnv(acct, res) {
			env[k] = v
		}
	}
	for k, v := range apiParams {
		env[k] = v
	}
	for k, v := range env {
		if err := os.Setenv(k, v); err != nil {
			return nil, fmt.Errorf("set %s: %w", k, err)
		}
	}
	cfg, err := config.Load[config.API]()
	if err != nil {
		return nil, err
	}
	plain := dynamodb.NewFromConfig(plainCfg)
	meter := &capacityMeter{readBack: func(ctx context.Context, table string, key map[string]ddbtypes.AttributeValue) map[string]ddbtypes.AttributeValue {
		out, err := plain.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil
		}
		return out.Item
	}}
	apiH, err := app.New(ctx, cfg, logs.New(io.Discard, slog.LevelError), meter.options())
	if err != nil {
		return nil, fmt.Errorf("app.New: %w", err)
	}
	accountCfg, err := config.Load[config.Account]()
	if err != nil {
		return nil, err
	}
	accountH, err := accountapp.New(ctx, accountCfg, logs.New(io.Discard, slog.LevelError), meter.options())
	if err != nil {
		return nil, fmt.Errorf("account app.New: %w", err)
	}
	h := runner.Dispatch(st, map[string]apigw.HandlerFunc{"api": apiH, "account": accountH}, "api")
	c := &crmEnv{h: h, meter: meter}
	email := fmt.Sprintf("bench.crm.%d@example.com", time.Now().UnixNano())
	const password = "bench-password-0123"
	signup, err := c.do(ctx, crmRequest{Method: "POST", Path: "/v1/auth/signup", Route: "POST /v1/auth/signup", Want: http.StatusCreated,
		Body: map[string]string{"org_name": "Bench CRM", "name": "Bench Owner", "email": email, "password": password}})
	if err != nil {
		return nil, err
	}
	// The merge figure's preparation sends some 800 requests: more than the
	// free plan's requests a minute, so the org is on the business plan.
	user, _ := signup["user"].(map[string]any)
	orgID, _ := user["org_id"].(string)
	if orgID == "" {
		return nil, errors.New("signup answered no user.org_id")
	}
	if err := dynamostore.New(plain, r.Table).SetOrgPlan(ctx, orgID, plan.Business); err != nil {
		return nil, fmt.Errorf("set the bench org's plan: %w", err)
	}
	login, err := c.do(ctx, crmRequest{Method: "POST", Path: "/v1/auth/login", Route: "POST /v1/auth/login", Want: http.StatusOK,
		Body: map[string]string{"email": email, "password": password}})
	if err != nil {
		return nil, err
	}
	if c.token, _ = login["access_token"].(string); c.token == "" {
		return nil, errors.New("login answered no access_token")
	}
	for _, op := range crmOperations() {
		say("crm: %s ...", op.Name)
		req, err := op.prepare(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("%s: prepare: %w", op.Name, err)
		}
		meter.take()
		t0 := time.Now()
		body, err := c.do(ctx, req)
		took := time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op.Name, err)
		}
		if c.leadID == "" {
			c.leadID, _ = body["id"].(string)
		}
		c.last = body
		r.Rows = append(r.Rows, crmRow{Op: op, Route: req.Route, Took: took, Tot: sumCapacity(meter.take())})
	}
	importID, _ := c.last["id"].(string)
	say("crm: applying import %s ...", importID)
	if r.Import, err = drainImport(ctx, c, plainCfg, res, importID); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	r.Elapsed = time.Since(begin)
	return r, nil
}

func (r *crmResult) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("\n## CRM operations\n\n")
	w("What one CRM request costs in DynamoDB, from `go run ./tools/withstack -- go run ./tools/bench -only crm -out docs/benchmarks.md`, ")
	w("%s, in %s; table `%s`, DynamoDB Local.\n\n", r.Machine.note(r.Date), r.Elapsed.Round(time.Second), r.Table)
	w("Each request goes through the handler of the function serving its route (`functions/api/app.New` or `functions/account/app.New`), built in-process as the Lambda runs it ")
	w("(the bearer token checked, the plan's usage counted, the audit record written), with the capacity meter of the Meta intake figures ")
	w("on its DynamoDB client (`ReturnConsumedCapacity=INDEXES` on every call; each written item sized by AWS's rules, an updated one read back). ")
	w("**WCU** are computed from the items by AWS's rules (per item ⌈size / 1 KB⌉, twice that for the table in a transaction, plus ⌈size / 1 KB⌉ for each GSI holding it), ")
	w("DynamoDB Local's own figure beside it; **RCU** are DynamoDB Local's figures (½ unit per 4 KB eventually consistent, 1 strongly). ")
	w("The operations run in order on one fresh org (`crmOperations` in `tools/bench/crm.go`; a new row is one more entry there): ")
	w("each one's preparation is not metered.\n\n")
	w("| operation | request | DynamoDB calls | WCU (AWS rules; Local) | RCU | time |\n|---|---|---|---|---|---|\n")
	for _, row := range r.Rows {
		t := row.Tot
		calls := map[string]int{}
		for k, v := range t.WriteOps {
			calls[k] += v
		}
		for k, v := range t.ReadOps {
			calls[k] += v
		}
		w("| %s | `%s`: %s | %d (%s) | **%.0f**; %.1f | **%.1f** | %.1f ms |\n", row.Op.Name, row.Route, row.Op.Note, t.WriteCalls+t.ReadCalls,
			formatOps(calls), t.Estimated, t.WriteUnits, t.ReadUnits, float64(row.Took.Microseconds())/1e3)
	}
	if r.Import != nil {
		w("%s", r.Import.markdown())
	}
	w("\nTimes are one request each on the shared machine against DynamoDB Local, for orientation only; the calls and units are what ")
	w("DynamoDB would bill. A failed conditional write carries no ConsumedCapacity and would show as a missing unit.\n")
	return b.String()
}

func (r *crmResult) summary() string {
	var b strings.Builder
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "crm: %-28s %2d calls, %4.0f WCU, %5.1f RCU\n", row.Op.Name, row.Tot.WriteCalls+row.Tot.ReadCalls, row.Tot.Estimated, row.Tot.ReadUnits)
	}
	if r.Import != nil {
		fmt.Fprintf(&b, "crm: import applied: %d rows in %.1f s (%.0f rows/s), %.1f WCU a row\n", r.Import.Rows, r.Import.Took.Seconds(),
			float64(r.Import.Rows)/r.Import.Took.Seconds(), r.Import.Tot.Estimated/float64(r.Import.Rows))
	}
	return b.String()
}

// runCRMOnly measures the CRM figures and splices their section into out,
// keeping every other section.
func runCRMOnly(ctx context.Context, out string) (err error) {
	_, release, err := useStack(ctx)
	if err != nil {
		return err
	}
	defer release(&err)
	r, err := measureCRM(ctx)
	if err != nil {
		return fmt.Errorf("crm: %w", err)
	}
	if err := spliceFile(out, "CRM operations", r.markdown()); err != nil {
		return err
	}
	fmt.Print(r.summary())
	fmt.Printf("wrote %s\n", out)
	return nil
}
