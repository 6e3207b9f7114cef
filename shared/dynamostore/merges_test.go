package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/dynamostore"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta/metatest"
	"github.com/leadluence/backend/shared/page"
)

// newMerge is the merge lead.Service.Merge would run: other into
// survivor under lead.MergeLeads.
func newMerge(survivor, other lead.Lead, by string) lead.Merge {
	now := time.Now().UTC().Truncate(time.Millisecond)
	merged := lead.MergeLeads(survivor, other)
	merged.Version, merged.UpdatedAt, merged.EditedAt = survivor.Version+1, now, now
	return lead.Merge{ID: ulid.Make().String(), OrgID: survivor.OrgID, SurvivorID: survivor.ID, OtherID: other.ID, State: lead.MergePending,
		Survivor: survivor, Other: other, Merged: merged, By: by, At: now, ExpiresAt: now.Add(lead.MergeUndoWindow)}
}

// leadHistory is everything a lead's history partition shows through the
// store's readers.
type leadHistory struct {
	Acts     []lead.Activity
	Notes    []lead.Note
	Tasks    []lead.Task
	Appts    []lead.Appointment
	Messages []conversation.Message
	Consent  []conversation.ConsentEntry
}

func historyOf(t *testing.T, s *dynamostore.Store, orgID, leadID string) leadHistory {
	t.Helper()
	ctx := context.Background()
	var h leadHistory
	var err error
	if h.Acts, err = s.Activities(ctx, orgID, leadID); err != nil {
		t.Fatal(err)
	}
	if h.Notes, err = s.Notes(ctx, orgID, leadID); err != nil {
		t.Fatal(err)
	}
	if h.Tasks, err = s.Tasks(ctx, orgID, leadID); err != nil {
		t.Fatal(err)
	}
	if h.Appts, err = s.Appointments(ctx, orgID, leadID); err != nil {
		t.Fatal(err)
	}
	if h.Messages, err = s.Messages(ctx, orgID, leadID); err != nil {
		t.Fatal(err)
	}
	if h.Consent, err = s.ConsentLedger(ctx, orgID, leadID); err != nil {
		t.Fatal(err)
	}
	return h
}

// seedHistory gives a lead notes, a task with a pending reminder, an
// appointment, activities and an inbound WhatsApp message (with its
// opt-out ledger entry); it returns the message's wamid.
func seedHistory(t *testing.T, s *dynamostore.Store, l lead.Lead, activities int) string {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range 2 {
		n := lead.Note{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, AuthorID: "u1", Body: fmt.Sprint("note ", i, " of ", l.Name),
			CreatedAt: now, UpdatedAt: now, Version: 1}
		if err := s.AddNote(ctx, n, lead.Activity{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, Kind: lead.ActivityNoteAdded, At: now,
			ActorID: "u1", Details: map[string]string{"note_id": n.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	remind := 30
	task := lead.Task{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, Title: "call " + l.Name, DueAt: now.Add(48 * time.Hour),
		AssigneeID: "u1", Status: lead.TaskOpen, RemindBeforeMinutes: &remind, CreatedBy: "u1", CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.AddTask(ctx, task, lead.Activity{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, Kind: "task_added", At: now}); err != nil {
		t.Fatal(err)
	}
	appt := lead.Appointment{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, StartsAt: now.Add(72 * time.Hour), EndsAt: now.Add(73 * time.Hour),
		Location: "office", AssigneeID: "u1", Status: lead.AppointmentBooked, CreatedBy: "u1", CreatedAt: now, UpdatedAt: now, Version: 1}
	if err := s.BookAppointment(ctx, appt, lead.Activity{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, Kind: "appointment_booked", At: now}); err != nil {
		t.Fatal(err)
	}
	for i := range activities {
		if err := s.AttachEvent(ctx, l.OrgID, fmt.Sprint("leadgen:", l.ID, "-", i), lead.Activity{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID,
			Kind: lead.ActivityLeadAdsResubmission, At: now}); err != nil {
			t.Fatal(err)
		}
	}
	at := now.Add(-time.Minute)
	m := conversation.Message{ID: ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), OrgID: l.OrgID, LeadID: l.ID,
		Channel: conversation.ChannelWhatsApp, Direction: conversation.Inbound, ProviderID: metatest.NewWAMID(), Type: "text",
		Text: "hello from " + l.Name, Status: conversation.StatusReceived, At: at}
	consent := &conversation.ConsentEntry{ID: ulid.Make().String(), OrgID: l.OrgID, LeadID: l.ID, Channel: conversation.ChannelWhatsApp,
		Purpose: conversation.PurposeAll, Action: conversation.OptOut, At: at, Evidence: m.ID, Source: "keyword"}
	if err := s.PutInboundMessage(ctx, m, consent); err != nil {
		t.Fatal(err)
	}
	return m.ProviderID
}

func mustLead(t *testing.T, s *dynamostore.Store, orgID, id string) lead.Lead {
	t.Helper()
	l, err := s.GetLead(context.Background(), orgID, id)
	if err != nil {
		t.Fatalf("read lead %s: %v", id, err)
	}
	return l
}

// Merging moves the other lead's notes, tasks, appointments, activities,
// messages and consent entries to the survivor, follows the conflict rule,
// re-points the other's phone and email guards (an inbound message from
// its number finds the survivor) and the message's provider id guard;
// undo restores both leads, their histories and guards exactly; a second
// undo is refused.
func TestMergeAndUndo(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	s.UseSuppression(testHasher(t))
	const org = "org1"
	t0 := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC).Format(time.RFC3339)
	t1 := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC).Format(time.RFC3339)
	a := newLead(org, "Asha", "+919876500101", "asha@example.com")
	a.Tags, a.CustomFields, a.AssigneeID = []string{"vip"}, map[string]string{"city": "Pune"}, "u1"
	a.Consent = map[string]string{"whatsapp:marketing": "opt_in@" + t1, "email:all": "opt_in@" + t0}
	b := newLead(org, "Asha K", "+919876500102", "asha.k@example.com")
	b.Tags, b.CustomFields, b.Status = []string{"hot", "vip"}, map[string]string{"city": "Mumbai", "budget": "10L"}, lead.StatusContacted
	b.Consent = map[string]string{"whatsapp:marketing": "opt_out@" + t0, "email:all": "opt_in@" + t1, "sms:all": "opt_in@" + t0}
	for _, l := range []lead.Lead{a, b} {
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	seedHistory(t, s, a, 3)
	wamidB := seedHistory(t, s, b, 5)
	beforeA, beforeB := mustLead(t, s, org, a.ID), mustLead(t, s, org, b.ID)
	histA, histB := historyOf(t, s, org, a.ID), historyOf(t, s, org, b.ID)

	m, err := s.RunMerge(ctx, newMerge(beforeA, beforeB, "u2"))
	if err != nil {
		t.Fatal(err)
	}
	if m.State != lead.MergeDone || m.Moved != len(histB.Acts)+len(histB.Notes)+len(histB.Tasks)+len(histB.Appts)+len(histB.Messages)+len(histB.Consent) {
		t.Fatalf("merge %s moved %d", m.State, m.Moved)
	}
	if _, err := s.GetLead(ctx, org, b.ID); !errors.Is(err, lead.ErrNotFound) {
		t.Fatalf("absorbed lead read = %v, want not found", err)
	}
	got := mustLead(t, s, org, a.ID)
	want := beforeA
	want.Version, want.UpdatedAt, want.EditedAt = beforeA.Version+1, got.UpdatedAt, got.EditedAt
	want.Phones, want.Emails = []string{b.Phone}, []string{b.Email}
	want.Tags = []string{"vip", "hot"}
	want.CustomFields = map[string]string{"city": "Pune", "budget": "10L"}
	// The window is the later of the two leads' (lead.Merge).
	if beforeB.LastInboundAt.After(want.LastInboundAt) {
		want.LastInboundAt = beforeB.LastInboundAt
	}
	want.Consent = map[string]string{"whatsapp:marketing": "opt_out@" + t0, "email:all": "opt_in@" + t1, "sms:all": "opt_in@" + t0}
	if v, ok := got.Consent["whatsapp:all"]; ok || beforeA.Consent["whatsapp:all"] != "" || beforeB.Consent["whatsapp:all"] != "" {
		// Both opted out by keyword: the later opt-out stands.
		want.Consent["whatsapp:all"] = max(beforeA.Consent["whatsapp:all"], beforeB.Consent["whatsapp:all"])
		_ = v
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("merged lead (-want +got):\n%s", diff)
	}
	// Guards: the other's number and address now find the survivor, so
	// intake files a WhatsApp message from that number on it.
	for _, f := range []func(context.Context, string, string) (string, error){
		func(ctx context.Context, o, _ string) (string, error) { return s.LeadIDByPhone(ctx, o, b.Phone) },
		func(ctx context.Context, o, _ string) (string, error) { return s.LeadIDByEmail(ctx, o, b.Email) },
	} {
		if id, err := f(ctx, org, ""); err != nil || id != a.ID {
			t.Fatalf("guard of the absorbed lead's contact = %q %v, want the survivor", id, err)
		}
	}
	if msg, err := s.MessageByProviderID(ctx, wamidB); err != nil || msg.LeadID != a.ID {
		t.Fatalf("message by wamid after merge = %+v %v", msg, err)
	}
	merged := historyOf(t, s, org, a.ID)
	if len(merged.Notes) != len(histA.Notes)+len(histB.Notes) || len(merged.Tasks) != 2 || len(merged.Appts) != 2 ||
		len(merged.Messages) != 2 || len(merged.Consent) != len(histA.Consent)+len(histB.Consent) ||
		len(merged.Acts) != len(histA.Acts)+len(histB.Acts)+1 {
		t.Fatalf("survivor's history after merge: %d notes, %d tasks, %d appointments, %d messages, %d consent, %d activities",
			len(merged.Notes), len(merged.Tasks), len(merged.Appts), len(merged.Messages), len(merged.Consent), len(merged.Acts))
	}
	for _, tk := range merged.Tasks {
		if tk.LeadID != a.ID {
			t.Fatalf("moved task names lead %s", tk.LeadID)
		}
	}
	if last := merged.Acts[len(merged.Acts)-1]; last.Kind != lead.ActivityMerged || last.Details["other_lead_id"] != b.ID {
		t.Fatalf("last activity %+v, want merged", last)
	}
	if h := historyOf(t, s, org, b.ID); len(h.Acts)+len(h.Notes)+len(h.Messages) != 0 {
		t.Fatalf("absorbed lead's partition keeps %+v", h)
	}
	// The reminder of the moved task names the survivor.
	rem, err := s.DueReminders(ctx, time.Now().Add(72*time.Hour), 50, page.Cursor{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rem.Items {
		if r.OrgID == org && r.LeadID == b.ID {
			t.Fatalf("a reminder still names the absorbed lead: %+v", r)
		}
	}

	undone, err := s.UndoMerge(ctx, org, m.ID, "u2", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if undone.State != lead.MergeUndone || undone.Moved != m.Moved {
		t.Fatalf("undo %s moved %d, want %d", undone.State, undone.Moved, m.Moved)
	}
	if diff := cmp.Diff(beforeB, mustLead(t, s, org, b.ID)); diff != "" {
		t.Fatalf("absorbed lead after undo (-before +after):\n%s", diff)
	}
	afterA := mustLead(t, s, org, a.ID)
	if diff := cmp.Diff(beforeA, afterA, cmpopts.IgnoreFields(lead.Lead{}, "Version")); diff != "" {
		t.Fatalf("survivor after undo (-before +after):\n%s", diff)
	}
	if afterA.Version != got.Version+1 {
		t.Fatalf("survivor version after undo %d, want %d", afterA.Version, got.Version+1)
	}
	if diff := cmp.Diff(histB, historyOf(t, s, org, b.ID), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("absorbed lead's history after undo (-before +after):\n%s", diff)
	}
	restoredA := historyOf(t, s, org, a.ID)
	if n := len(restoredA.Acts); n != len(histA.Acts)+2 || restoredA.Acts[n-1].Kind != lead.ActivityUnmerged {
		t.Fatalf("survivor's activities after undo: %d, last %+v", n, restoredA.Acts[n-1])
	}
	restoredA.Acts, histA.Acts = nil, nil
	if diff := cmp.Diff(histA, restoredA, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("survivor's history after undo (-before +after):\n%s", diff)
	}
	if id, err := s.LeadIDByPhone(ctx, org, b.Phone); err != nil || id != b.ID {
		t.Fatalf("phone guard after undo = %q %v", id, err)
	}
	if id, err := s.LeadIDByEmail(ctx, org, b.Email); err != nil || id != b.ID {
		t.Fatalf("email guard after undo = %q %v", id, err)
	}
	if msg, err := s.MessageByProviderID(ctx, wamidB); err != nil || msg.LeadID != b.ID {
		t.Fatalf("message by wamid after undo = %+v %v", msg, err)
	}
	if _, err := s.UndoMerge(ctx, org, m.ID, "u2", time.Now()); !errors.Is(err, lead.ErrMergeClosed) {
		t.Fatalf("second undo = %v, want closed", err)
	}
	if _, err := s.UndoMerge(ctx, "org2", m.ID, "u2", time.Now()); !errors.Is(err, lead.ErrMergeNotFound) {
		t.Fatalf("undo from another org = %v, want not found", err)
	}
}

// A merge that stopped midway (record written, part of the history moved)
// is finished by the same merge asked again, under its first id; one
// that stopped midway can instead be undone, leaving both leads whole.
func TestMergeStoppedMidwayResumesOrUndoes(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	const org = "org1"
	a, b := newLead(org, "A", "+919876500201", ""), newLead(org, "B", "+919876500202", "")
	c, d := newLead(org, "C", "+919876500203", ""), newLead(org, "D", "+919876500204", "")
	for _, l := range []lead.Lead{a, b, c, d} {
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	seedHistory(t, s, b, 60)
	seedHistory(t, s, d, 60)
	histB := historyOf(t, s, org, b.ID)

	first, err := s.StartMerge(ctx, newMerge(mustLead(t, s, org, a.ID), mustLead(t, s, org, b.ID), "u1"))
	if err != nil {
		t.Fatal(err)
	}
	if n, done, err := s.MoveMergeHistory(ctx, first, 24); err != nil || done || n != 24 {
		t.Fatalf("partial move = %d %v %v", n, done, err)
	}
	// Crash here. Both leads still read; a merge of one of them with a
	// third lead waits.
	if _, err := s.StartMerge(ctx, newMerge(mustLead(t, s, org, c.ID), mustLead(t, s, org, b.ID), "u1")); !errors.Is(err, lead.ErrMergeBusy) {
		t.Fatalf("merge of a lead under merge = %v, want busy", err)
	}
	m, err := s.RunMerge(ctx, newMerge(mustLead(t, s, org, a.ID), mustLead(t, s, org, b.ID), "u1"))
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != first.ID || m.State != lead.MergeDone {
		t.Fatalf("retry ran merge %s (%s), want %s done", m.ID, m.State, first.ID)
	}
	if _, err := s.GetLead(ctx, org, b.ID); !errors.Is(err, lead.ErrNotFound) {
		t.Fatalf("absorbed lead = %v", err)
	}
	merged := historyOf(t, s, org, a.ID)
	if len(merged.Acts) != len(histB.Acts)+2 || len(merged.Notes) != len(histB.Notes) || len(merged.Messages) != 1 {
		t.Fatalf("after resumed merge: %d activities (want %d), %d notes, %d messages", len(merged.Acts), len(histB.Acts)+2, len(merged.Notes), len(merged.Messages))
	}

	// Stopped midway, then undone: nothing of it remains.
	beforeC, beforeD, histD := mustLead(t, s, org, c.ID), mustLead(t, s, org, d.ID), historyOf(t, s, org, d.ID)
	half, err := s.StartMerge(ctx, newMerge(beforeC, beforeD, "u1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.MoveMergeHistory(ctx, half, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UndoMerge(ctx, org, half.ID, "u1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(beforeC, mustLead(t, s, org, c.ID)); diff != "" {
		t.Fatalf("survivor after undoing a stopped merge:\n%s", diff)
	}
	if diff := cmp.Diff(beforeD, mustLead(t, s, org, d.ID)); diff != "" {
		t.Fatalf("other after undoing a stopped merge:\n%s", diff)
	}
	if diff := cmp.Diff(histD, historyOf(t, s, org, d.ID), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("history after undoing a stopped merge:\n%s", diff)
	}
	if h := historyOf(t, s, org, c.ID); len(h.Acts) != 1 {
		t.Fatalf("survivor keeps %d activities, want its created one", len(h.Acts))
	}
}

// A merge is undone only within its window and only while no later merge
// into its survivor stands; erasing the survivor removes the merge
// records that hold copies of both leads.
func TestMergeUndoLimitsAndErasure(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	s.UseSuppression(testHasher(t))
	const org = "org1"
	a, b, c := newLead(org, "A", "+919876500301", ""), newLead(org, "B", "+919876500302", "b@example.com"), newLead(org, "C", "", "c@example.com")
	for _, l := range []lead.Lead{a, b, c} {
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	m1, err := s.RunMerge(ctx, newMerge(mustLead(t, s, org, a.ID), mustLead(t, s, org, b.ID), "u1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UndoMerge(ctx, org, m1.ID, "u1", m1.At.Add(lead.MergeUndoWindow+time.Hour)); !errors.Is(err, lead.ErrMergeClosed) {
		t.Fatalf("undo after the window = %v, want closed", err)
	}
	m2, err := s.RunMerge(ctx, newMerge(mustLead(t, s, org, a.ID), mustLead(t, s, org, c.ID), "u1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustLead(t, s, org, a.ID); !cmp.Equal(got.Phones, []string{b.Phone}) || !cmp.Equal(got.Emails, []string{c.Email}) || got.Email != b.Email {
		t.Fatalf("after two merges: email %q phones %v emails %v", got.Email, got.Phones, got.Emails)
	}
	if _, err := s.UndoMerge(ctx, org, m1.ID, "u1", time.Now()); !errors.Is(err, lead.ErrMergeClosed) {
		t.Fatalf("undo under a later merge = %v, want closed", err)
	}
	cur := mustLead(t, s, org, a.ID)
	d, err := s.DeleteLead(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	// A's phone, B's phone and email (B's email became A's primary one,
	// A had none), C's email.
	if d.Counts["merge"] != 2 || d.Counts["lead_guard"] != 4 {
		t.Fatalf("deletion counts %v, want 2 merges and 4 guards", d.Counts)
	}
	for _, id := range []string{m1.ID, m2.ID} {
		if _, err := s.GetMerge(ctx, org, id); !errors.Is(err, lead.ErrMergeNotFound) {
			t.Fatalf("merge %s after erasure = %v", id, err)
		}
	}
	for _, p := range []string{a.Phone, b.Phone} {
		if _, err := s.LeadIDByPhone(ctx, org, p); !errors.Is(err, lead.ErrNotFound) {
			t.Fatalf("guard of %s after erasure = %v", p, err)
		}
	}
}

// The cost of merging two leads with 200 activities each, and of its
// undo, in DynamoDB calls and time (docs/crm.md quotes it).
func TestMergeCost(t *testing.T) {
	ctx := context.Background()
	s, calls := newStore(t)
	const org = "org1"
	a, b := newLead(org, "A", "+919876500401", ""), newLead(org, "B", "+919876500402", "")
	for _, l := range []lead.Lead{a, b} {
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	seedHistory(t, s, a, 200)
	seedHistory(t, s, b, 200)
	histB := historyOf(t, s, org, b.ID)
	ops := []string{"GetItem", "Query", "TransactWriteItems", "UpdateItem", "BatchGetItem"}
	snap := func() map[string]int64 {
		out := map[string]int64{}
		for _, op := range ops {
			out[op] = calls.get(op)
		}
		return out
	}
	diff := func(before map[string]int64) (map[string]int64, int64) {
		out, total := map[string]int64{}, int64(0)
		for _, op := range ops {
			out[op] = calls.get(op) - before[op]
			total += out[op]
		}
		return out, total
	}
	before, start := snap(), time.Now()
	m, err := s.RunMerge(ctx, newMerge(mustLead(t, s, org, a.ID), mustLead(t, s, org, b.ID), "u1"))
	if err != nil {
		t.Fatal(err)
	}
	byOp, total := diff(before)
	t.Logf("merge of two leads with 200 activities each (%d items moved): %d DynamoDB calls %v in %v", m.Moved, total, byOp, time.Since(start).Round(time.Millisecond))
	before, start = snap(), time.Now()
	u, err := s.UndoMerge(ctx, org, m.ID, "u1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	byOp, total = diff(before)
	t.Logf("its undo (%d items moved back): %d DynamoDB calls %v in %v", u.Moved, total, byOp, time.Since(start).Round(time.Millisecond))
	if diff := cmp.Diff(histB, historyOf(t, s, org, b.ID), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("absorbed lead's history after undo (-before +after):\n%s", diff)
	}
}

// The canonical email entries follow the emails through a merge, its undo
// and a deletion.
func TestCanonicalEmailEntriesFollowMerges(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	s.UseSuppression(testHasher(t))
	const org = "org1"
	a, b := newLead(org, "A", "+919876500501", ""), newLead(org, "B", "", "j.o.h.n+x@gmail.com")
	for _, l := range []lead.Lead{a, b} {
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	ids := func() []string {
		t.Helper()
		got, err := s.LeadIDsByCanonicalEmail(ctx, org, "john@gmail.com")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := ids(); !cmp.Equal(got, []string{b.ID}) {
		t.Fatalf("before the merge: %v", got)
	}
	m, err := s.RunMerge(ctx, newMerge(mustLead(t, s, org, a.ID), mustLead(t, s, org, b.ID), "u1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(); !cmp.Equal(got, []string{a.ID}) {
		t.Fatalf("after the merge: %v, want the survivor", got)
	}
	if _, err := s.UndoMerge(ctx, org, m.ID, "u1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := ids(); !cmp.Equal(got, []string{b.ID}) {
		t.Fatalf("after the undo: %v", got)
	}
	if _, err := s.DeleteLead(ctx, mustLead(t, s, org, b.ID)); err != nil {
		t.Fatal(err)
	}
	if got := ids(); len(got) != 0 {
		t.Fatalf("after the deletion: %v", got)
	}
}

// Two merges that absorb the same lead, asked at the same moment (two
// managers, or one double click into two survivors), each past the other's
// check for merges under way: one starts, the other is refused before it
// moves anything (the lead's merge mark), and the absorbed lead's history
// all ends on the one survivor.
func TestMergesOfOneLeadAtOnce(t *testing.T) {
	ctx := context.Background()
	// Both starts list the org's merges before either writes its record.
	var queries atomic.Int32
	var armed atomic.Bool
	listed := make(chan struct{})
	s, _ := newStoreWith(t, func(op string) error {
		if !armed.Load() {
			return nil
		}
		if op == "Query" && queries.Add(1) == 2 {
			close(listed)
		}
		if op == "TransactWriteItems" {
			select {
			case <-listed:
			case <-time.After(5 * time.Second):
			}
		}
		return nil
	})
	org := "org-" + ulid.Make().String()
	a, b, o := newLead(org, "A", "+919876500601", ""), newLead(org, "B", "+919876500602", ""), newLead(org, "O", "+919876500603", "")
	for _, l := range []lead.Lead{a, b, o} {
		if err := s.CreateLead(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	seedHistory(t, s, o, 60)
	want := len(historyOf(t, s, org, o.ID).Acts)
	survivors := []lead.Lead{mustLead(t, s, org, a.ID), mustLead(t, s, org, b.ID)}
	other := mustLead(t, s, org, o.ID)
	started := make([]lead.Merge, 2)
	errs := make([]error, 2)
	armed.Store(true)
	var wg sync.WaitGroup
	for i := range survivors {
		wg.Go(func() { started[i], errs[i] = s.StartMerge(ctx, newMerge(survivors[i], other, "u1")) })
	}
	wg.Wait()
	armed.Store(false)
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("both merges of lead O started")
			}
			won = i
		case errors.Is(err, lead.ErrMergeBusy):
		default:
			t.Fatalf("merge into %s: %v, want it started or ErrMergeBusy", survivors[i].Name, err)
		}
	}
	if won < 0 {
		t.Fatalf("neither merge started: %v", errs)
	}
	if _, err := s.RunMerge(ctx, started[won]); err != nil {
		t.Fatal(err)
	}
	if left := historyOf(t, s, org, o.ID); len(left.Acts)+len(left.Notes)+len(left.Messages) != 0 {
		t.Fatalf("history left under the absorbed lead: %d activities, %d notes, %d messages", len(left.Acts), len(left.Notes), len(left.Messages))
	}
	if h := historyOf(t, s, org, survivors[1-won].ID); len(h.Notes)+len(h.Messages) != 0 {
		t.Fatalf("the refused merge's survivor got history: %d notes, %d messages", len(h.Notes), len(h.Messages))
	}
	if got := len(historyOf(t, s, org, survivors[won].ID).Acts); got < want {
		t.Fatalf("survivor has %d activities, want at least the absorbed lead's %d", got, want)
	}
}
