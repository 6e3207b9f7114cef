package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/logging"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/infra/topology"
	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/phone"
	"github.com/leadluence/backend/shared/privacy"
	"github.com/leadluence/backend/shared/suppression"
	"github.com/leadluence/backend/tools/provision"
)

// The privacy figures: a data-subject export of one person with a long
// history (privacy.Service.Submit of an export request: matching, reading
// every message with its status log, encoding, compressing and storing the
// chunks) and the download of the document it made.

// privacyOptions size the privacy figures.
type privacyOptions struct {
	// Messages is the person's history, half from them, half to them (each
	// of those with a sent, delivered and read status).
	Messages int
	// Runs is how many exports are timed.
	Runs int
}

// privacyResult is what the privacy bench measured.
type privacyResult struct {
	Date     time.Time
	Elapsed  time.Duration
	Machine  machineInfo
	Opts     privacyOptions
	Table    string
	Export   []time.Duration
	Plain    time.Duration
	Gzip     time.Duration
	JSON     int64
	Stored   int64
	Chunks   int
	Statuses int
	// ReadMsgs and ReadLogs time the two largest reads of an export alone.
	ReadMsgs, ReadLogs time.Duration
}

type noAudit struct{}

func (noAudit) Record(context.Context, audit.Record) {}

func measurePrivacy(ctx context.Context, o privacyOptions) (*privacyResult, error) {
	begin := time.Now()
	r := &privacyResult{Date: begin.UTC(), Machine: machine(ctx), Opts: o}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithLogger(logging.Nop{}))
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	prefix := fmt.Sprintf("bprv%d-", time.Now().UnixNano()%1e9)
	res, err := provision.Apply(ctx, cfg, topology.Default(), prefix)
	if err != nil {
		return nil, fmt.Errorf("provision %s*: %w", prefix, err)
	}
	r.Table = res.TableName
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("suppression key: %w", err)
	}
	h, err := suppression.NewHasher(key)
	if err != nil {
		return nil, err
	}
	store := dynamostore.New(dynamodb.NewFromConfig(cfg), res.TableName).UseSuppression(h)
	now := time.Now().UTC()
	orgID := ulid.Make().String()
	owner := account.User{ID: ulid.Make().String(), OrgID: orgID, Name: "Owner", Email: strings.ToLower(orgID) + "@example.com",
		Role: account.RoleOwner, Active: true, PasswordHash: "x", CreatedAt: now, UpdatedAt: now}
	if err := store.CreateOrg(ctx, account.Org{ID: orgID, Name: "Bench Privacy", DefaultRegion: "IN", CreatedAt: now}, owner); err != nil {
		return nil, fmt.Errorf("create org: %w", err)
	}
	l := lead.Lead{ID: ulid.Make().String(), OrgID: orgID, Name: "Priya Sharma", Phone: "+919876500001", Email: "priya.bench@example.com",
		Source: "whatsapp", Status: lead.StatusContacted, Tags: []string{"vip", "site-visit"},
		CustomFields: map[string]string{"budget": "90L", "city": "Pune"}, CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := store.CreateLead(ctx, l); err != nil {
		return nil, fmt.Errorf("create lead: %w", err)
	}
	say("privacy: seeding one person's history of %d messages ...", o.Messages)
	msgs, events := privacyHistory(orgID, l.ID, o.Messages, now)
	for start := 0; start < len(msgs); start += 1000 {
		part := msgs[start:min(start+1000, len(msgs))]
		if err := store.SeedMessages(ctx, part); err != nil {
			return nil, err
		}
		if err := store.SeedStatusLogs(ctx, part, events); err != nil {
			return nil, err
		}
	}
	for _, evs := range events {
		r.Statuses += len(evs)
	}
	t0 := time.Now()
	read, err := store.Messages(ctx, orgID, l.ID)
	r.ReadMsgs = time.Since(t0)
	if err != nil || len(read) != o.Messages {
		return nil, fmt.Errorf("read %d messages: %w", len(read), err)
	}
	ids := make([]string, 0, len(read))
	for _, m := range read {
		ids = append(ids, m.ProviderID)
	}
	t0 = time.Now()
	if _, err := store.StatusLogs(ctx, ids); err != nil {
		return nil, fmt.Errorf("read status logs: %w", err)
	}
	r.ReadLogs = time.Since(t0)
	svc := &privacy.Service{Store: store, Leads: store, History: store, Hasher: h, Audit: noAudit{}, Phones: phone.Normalize, DefaultRegion: "IN"}
	actor := lead.Actor{User: owner, Region: "IN"}
	var last privacy.Request
	for i := range o.Runs {
		say("privacy: export %d of %d ...", i+1, o.Runs)
		t0 := time.Now()
		req, err := svc.Submit(ctx, actor, privacy.Input{Type: privacy.TypeExport, Subject: privacy.Subject{Phone: "98765 00001"}})
		d := time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		if req.Status != privacy.StatusCompleted || req.Export == nil || len(req.LeadIDs) != 1 {
			return nil, fmt.Errorf("export request %s: status %s, export %v", req.ID, req.Status, req.Export)
		}
		r.Export = append(r.Export, d)
		last = req
	}
	r.JSON, r.Stored, r.Chunks = last.Export.Bytes, last.Export.Stored, last.Export.Chunks
	for _, gz := range []bool{false, true} {
		cw := &countWriter{}
		t0 := time.Now()
		if err := svc.StreamExport(ctx, last, cw, gz); err != nil {
			return nil, fmt.Errorf("download: %w", err)
		}
		d := time.Since(t0)
		want := r.JSON
		if gz {
			want, r.Gzip = r.Stored, d
		} else {
			r.Plain = d
		}
		if cw.n != want {
			return nil, fmt.Errorf("download (gzip %v) wrote %d bytes, want %d", gz, cw.n, want)
		}
	}
	r.Elapsed = time.Since(begin)
	return r, nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// privacyHistory is n messages of one lead over the last n minutes,
// alternating from and to the person, with realistic text; every outbound
// one has a payload and sent, delivered and read statuses.
func privacyHistory(orgID, leadID string, n int, now time.Time) ([]conversation.Message, map[string][]conversation.StatusEvent) {
	texts := []string{
		"Hi, is the 2BHK in Baner still available? What is the final price and is parking included?",
		"Yes, it is available. The price is 92 lakh all-inclusive with one covered parking. Would you like a site visit on Saturday?",
		"Saturday 11am works. Can you share the floor plan and the payment schedule before that?",
		"Sure, sharing both now. Our agent Rahul will meet you at the sales office.",
	}
	msgs := make([]conversation.Message, 0, n)
	events := map[string][]conversation.StatusEvent{}
	for i := range n {
		at := now.Add(-time.Duration(n-i) * time.Minute)
		m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: orgID, LeadID: leadID,
			Channel: conversation.ChannelWhatsApp, ProviderID: fmt.Sprintf("wamid.bench%010d", i), Type: "text", Text: texts[i%len(texts)],
			At: at, Number: "106540352242922"}
		if i%2 == 0 {
			m.Direction, m.Status = conversation.Inbound, conversation.StatusReceived
		} else {
			m.Direction, m.Status = conversation.Outbound, conversation.StatusRead
			m.ClientMessageID = fmt.Sprintf("bench-%d", i)
			m.Payload = `{"messaging_product":"whatsapp","to":"919876500001","type":"text","text":{"body":"` + m.Text + `"}}`
			events[m.ProviderID] = []conversation.StatusEvent{
				{ProviderID: m.ProviderID, Status: conversation.StatusSent, At: at.Add(time.Second)},
				{ProviderID: m.ProviderID, Status: conversation.StatusDelivered, At: at.Add(2 * time.Second)},
				{ProviderID: m.ProviderID, Status: conversation.StatusRead, At: at.Add(30 * time.Second)},
			}
		}
		msgs = append(msgs, m)
	}
	return msgs, events
}

func (r *privacyResult) median() time.Duration {
	s := slices.Clone(r.Export)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r *privacyResult) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	w("\n## Privacy export\n\n")
	w("A data-subject export of one person with a long history, from `go run ./tools/withstack -- go run ./tools/bench -only privacy -out docs/benchmarks.md`\n")
	w("(also part of the full run), %s, in %s, on %d CPUs (%s), %s/%s, Linux %s, %s; table `%s`, DynamoDB Local.\n\n",
		r.Date.Format("2006-01-02 15:04 MST"), r.Elapsed.Round(time.Second), m.CPUs, m.CPUModel, m.GOOS, m.GOARCH, m.Kernel, m.GoVersion, r.Table)
	w("The person: one lead with %d WhatsApp messages, half from them and half to them, every outbound one with a payload and a sent, delivered and read status (%d status events). ",
		r.Opts.Messages, r.Statuses)
	w("An export request (`privacy.Service.Submit`, as `POST /v1/privacy-requests` runs it, without the HTTP layer) matches the lead through the phone guard, reads its messages, ")
	w("one status-log Query per message with a provider id (8 at a time), the consent ledger and activities, encodes the document, gzips it and stores its chunks.\n\n")
	w("| figure | value |\n|---|---|\n")
	w("| export of one person with %d messages | **%.2f s** median of %d (%s) |\n", r.Opts.Messages, r.median().Seconds(), len(r.Export), durations(r.Export))
	w("| of which: reading the messages (paginated Query) | %.2f s, timed alone |\n", r.ReadMsgs.Seconds())
	w("| of which: reading their status logs (%d Queries, 8 at a time) | %.2f s, timed alone |\n", r.Opts.Messages, r.ReadLogs.Seconds())
	w("| document size | **%.2f MB** of JSON (%d bytes) |\n", float64(r.JSON)/1e6, r.JSON)
	w("| stored (gzip, best speed) | **%.0f KB** (%d bytes, %.1f× smaller) in %d chunk(s) of at most 256 KB; the bench's four repeated texts compress better than real conversations |\n",
		float64(r.Stored)/1e3, r.Stored, float64(r.JSON)/float64(max(r.Stored, 1)), r.Chunks)
	w("| download, decompressed | %.0f ms |\n", float64(r.Plain.Microseconds())/1e3)
	w("| download, gzip as stored | %.0f ms |\n", float64(r.Gzip.Microseconds())/1e3)
	w("\nThe machine's 2 cores are shared with DynamoDB Local (and with whatever else runs), so the runs spread; the document's JSON is ")
	w("well above a DynamoDB item's 400 KB, which is why it is stored compressed and in chunks, and above API Gateway's 6 MB Lambda ")
	w("response only for histories several times longer, which is why the download sends the stored gzip bytes when the client accepts them.\n")
	return b.String()
}

func durations(ds []time.Duration) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%.2f s", d.Seconds()))
	}
	return strings.Join(out, ", ")
}

func (r *privacyResult) summary() string {
	return fmt.Sprintf("privacy: export of %d messages %.2f s median, %d bytes JSON, %d stored in %d chunks; download %v plain, %v gzip\n",
		r.Opts.Messages, r.median().Seconds(), r.JSON, r.Stored, r.Chunks, r.Plain.Round(time.Millisecond), r.Gzip.Round(time.Millisecond))
}

// runPrivacyOnly measures the privacy figures alone and splices their
// section into out, keeping every other section.
func runPrivacyOnly(ctx context.Context, out string, o privacyOptions) (err error) {
	_, release, err := useStack(ctx)
	if err != nil {
		return err
	}
	defer release(&err)
	r, err := measurePrivacy(ctx, o)
	if err != nil {
		return fmt.Errorf("privacy: %w", err)
	}
	if err := spliceFile(out, "Privacy export", r.markdown()); err != nil {
		return err
	}
	fmt.Print(r.summary())
	fmt.Printf("wrote %s\n", out)
	return nil
}

var _ io.Writer = (*countWriter)(nil)
