package privacy

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

// Actions recorded in the audit trail. Their details name the person only
// by keyed reference (refs), never by phone or email.
const (
	ActionFiled      = "privacy.request"
	ActionExport     = "privacy.export"
	ActionDownload   = "privacy.export_download"
	ActionCorrection = "privacy.correction"
	ActionErasure    = "privacy.erasure"
)

// Failure reasons (Request.Reason).
const (
	ReasonNoMatch        = "no_matching_lead"
	ReasonSeveralMatch   = "several_leads_match"
	ReasonVersion        = "version_mismatch"
	ReasonInvalidChange  = "invalid_change"
	ReasonDuplicateLead  = "duplicate_contact"
	ReasonChangeRefused  = "change_refused"
	ReasonErasureBlocked = "lead_changed_during_erasure"
)

// Store keeps requests and their export documents (dynamostore.Store).
type Store interface {
	// CreatePrivacyRequest stores a new request (Version 1).
	CreatePrivacyRequest(ctx context.Context, r Request) error
	// GetPrivacyRequest returns one request of an org, or ErrNotFound.
	GetPrivacyRequest(ctx context.Context, orgID, id string) (Request, error)
	// PutPrivacyRequest replaces the stored request at r.Version-1 with r
	// (else ErrVersionMismatch).
	PutPrivacyRequest(ctx context.Context, r Request) error
	// ListPrivacyRequests returns up to limit requests of an org, newest
	// first, with status (all when empty), after the position from.
	ListPrivacyRequests(ctx context.Context, orgID string, status Status, limit int, from page.Cursor) ([]Request, page.Cursor, error)
	// PutExportChunks stores a request's export document, gzip-compressed,
	// in chunks that expire at expires.
	PutExportChunks(ctx context.Context, orgID, requestID string, chunks [][]byte, expires time.Time) error
	// ExportChunks calls fn with each chunk in order.
	ExportChunks(ctx context.Context, orgID, requestID string, fn func(chunk []byte) error) error
	// DeleteExportChunks removes a request's export document and says how
	// many chunks it had.
	DeleteExportChunks(ctx context.Context, orgID, requestID string) (int, error)
}

// Leads finds and deletes the subject's leads (dynamostore.Store).
type Leads interface {
	GetLead(ctx context.Context, orgID, leadID string) (lead.Lead, error)
	LeadIDByPhone(ctx context.Context, orgID, e164 string) (string, error)
	LeadIDByEmail(ctx context.Context, orgID, email string) (string, error)
	// DeleteLead is the lead delete path (dynamostore's leaddelete.go):
	// the lead, its history and guards go, its opt-outs stay under keyed
	// hashes of its phone and email.
	DeleteLead(ctx context.Context, l lead.Lead) (lead.Deletion, error)
}

// History reads what is recorded about a lead (dynamostore.Store).
type History interface {
	Activities(ctx context.Context, orgID, leadID string) ([]lead.Activity, error)
	Notes(ctx context.Context, orgID, leadID string) ([]lead.Note, error)
	Tasks(ctx context.Context, orgID, leadID string) ([]lead.Task, error)
	Appointments(ctx context.Context, orgID, leadID string) ([]lead.Appointment, error)
	Messages(ctx context.Context, orgID, leadID string) ([]conversation.Message, error)
	StatusLogs(ctx context.Context, providerIDs []string) (map[string][]conversation.StatusEvent, error)
	ConsentLedger(ctx context.Context, orgID, leadID string) ([]conversation.ConsentEntry, error)
	GetCampaign(ctx context.Context, orgID, id string) (campaign.Campaign, error)
}

// Corrector changes a lead under the lead rules (lead.Service).
type Corrector interface {
	Update(ctx context.Context, a lead.Actor, id string, version int, p lead.Patch) (lead.Lead, error)
}

// Scrubber removes from the activities of a corrected lead written before
// a time the values of the named fields that are not the lead's now
// (dynamostore.Store; lead.ScrubChanges).
type Scrubber interface {
	ScrubActivities(ctx context.Context, corrected lead.Lead, fields []string, before time.Time) (int, error)
}

// Hasher names a phone or email in an org by keyed hash
// (suppression.Hasher: the key of the lead suppression entries).
type Hasher interface {
	Phone(orgID, e164 string) string
	Email(orgID, email string) string
}

// Auditor appends to the audit trail (httpapi.Kit).
type Auditor interface {
	Record(ctx context.Context, r audit.Record)
}

// Service files and carries out data-subject requests. The caller checks
// that the actor may (owners and admins).
type Service struct {
	Store     Store
	Leads     Leads
	History   History
	Corrector Corrector
	// Scrubber, when set, removes the corrected fields' earlier values
	// from the lead's timeline after a correction.
	Scrubber Scrubber
	Hasher   Hasher
	Audit    Auditor
	// Phones brings phone numbers to E.164 (phone.Normalize), reading
	// numbers without a country code in the actor's region, else
	// DefaultRegion (default "IN").
	Phones        lead.PhoneNormalizer
	DefaultRegion string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ChunkSize is the compressed bytes of one stored export chunk
	// (default DefaultChunkSize).
	ChunkSize int
	// StartPurge, when set, starts at once the purge of an erased lead's
	// history that was too long to remove in the request (the retention
	// function's lead purge job, as lead.Service.StartPurge); without it,
	// or when it fails, the hourly run finishes it.
	StartPurge func(ctx context.Context, orgID, leadID string) error
}

// DefaultChunkSize keeps a chunk item well below DynamoDB's 400 KB item
// limit.
const DefaultChunkSize = 256 << 10

// deleteAttempts bounds the re-reads of a lead that changes while it is
// being erased (a message arriving, say).
const deleteAttempts = 3

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) region(a lead.Actor) string { return a.RegionOr(s.DefaultRegion) }

// Submit files a request and carries it out at once. Invalid input is a
// *FieldError and nothing is stored. A request that cannot be carried out
// as asked is stored as failed with its reason; an error of the store
// while carrying it out leaves it open (and is returned).
func (s *Service) Submit(ctx context.Context, a lead.Actor, in Input) (Request, error) {
	if err := in.Validate(); err != nil {
		return Request{}, err
	}
	subj := in.Subject
	p, err := s.Phones(subj.Phone, s.region(a))
	if err != nil {
		return Request{}, &FieldError{Field: "subject.phone", Message: err.Error()}
	}
	subj.Phone = p
	e, err := lead.NormalizeEmail(subj.Email)
	if err != nil {
		return Request{}, &FieldError{Field: "subject.email", Message: "not a valid email address"}
	}
	subj.Email = e
	now := s.now()
	r := Request{ID: ulid.Make().String(), OrgID: a.User.OrgID, Type: in.Type, Subject: subj, Note: in.Note,
		FieldsChanged: in.Changes.Fields(), Status: StatusOpen, ActorID: a.User.ID, CreatedAt: now, DueAt: DueDate(now), Version: 1,
		History: []Event{{At: now, ActorID: a.User.ID, Action: EventReceived, Details: map[string]string{"type": string(in.Type)}}}}
	r.Refs = s.refs(r.OrgID, r.Refs, subj.Phone, subj.Email)
	if err := s.Store.CreatePrivacyRequest(ctx, r); err != nil {
		return Request{}, fmt.Errorf("file privacy request: %w", err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: r.OrgID, ActorID: a.User.ID, Action: ActionFiled, TargetType: "privacy_request", TargetID: r.ID,
		Details: map[string]string{"type": string(r.Type), "refs": RefsText(r.Refs)}})
	if err := s.carryOut(ctx, a, &r, in); err != nil {
		return r, err
	}
	r.Version++
	if err := s.Store.PutPrivacyRequest(ctx, r); err != nil {
		return r, fmt.Errorf("record privacy request %s: %w", r.ID, err)
	}
	return r, nil
}

// refs adds the references of a phone and email to refs.
func (s *Service) refs(orgID string, refs []string, phone, email string) []string {
	if phone != "" {
		refs = addRef(refs, "phone", s.Hasher.Phone(orgID, phone))
	}
	if email != "" {
		refs = addRef(refs, "email", s.Hasher.Email(orgID, email))
	}
	return refs
}

// match finds the org's leads the subject names, through the phone and
// email guards and the lead id (no scans), each once.
func (s *Service) match(ctx context.Context, orgID string, subj Subject) ([]lead.Lead, error) {
	var ids []string
	add := func(id string) {
		for _, x := range ids {
			if x == id {
				return
			}
		}
		ids = append(ids, id)
	}
	if subj.LeadID != "" {
		add(subj.LeadID)
	}
	for _, c := range []struct {
		value string
		find  func(context.Context, string, string) (string, error)
	}{{subj.Phone, s.Leads.LeadIDByPhone}, {subj.Email, s.Leads.LeadIDByEmail}} {
		if c.value == "" {
			continue
		}
		id, err := c.find(ctx, orgID, c.value)
		if errors.Is(err, lead.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("find lead: %w", err)
		}
		add(id)
	}
	var out []lead.Lead
	for _, id := range ids {
		l, err := s.Leads.GetLead(ctx, orgID, id)
		if errors.Is(err, lead.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read lead %s: %w", id, err)
		}
		out = append(out, l)
	}
	return out, nil
}

func (s *Service) event(r *Request, actorID, action string, details map[string]string) {
	r.History = append(r.History, Event{At: s.now(), ActorID: actorID, Action: action, Details: details})
}

func (s *Service) fail(r *Request, actorID, reason string, details map[string]string) {
	if details == nil {
		details = map[string]string{}
	}
	details["reason"] = reason
	r.Status, r.Reason, r.CompletedAt = StatusFailed, reason, s.now()
	s.event(r, actorID, EventFailed, details)
}

func (s *Service) complete(r *Request) {
	r.Status, r.CompletedAt = StatusCompleted, s.now()
}

// carryOut does what r asks, recording it in r.
func (s *Service) carryOut(ctx context.Context, a lead.Actor, r *Request, in Input) error {
	leads, err := s.match(ctx, r.OrgID, r.Subject)
	if err != nil {
		return err
	}
	for _, l := range leads {
		r.LeadIDs = append(r.LeadIDs, l.ID)
		r.Refs = s.refs(r.OrgID, r.Refs, l.Phone, l.Email)
	}
	s.event(r, a.User.ID, EventMatched, map[string]string{"leads": strconv.Itoa(len(leads))})
	switch r.Type {
	case TypeAccess, TypeExport:
		return s.export(ctx, a, r, leads)
	case TypeCorrection:
		return s.correct(ctx, a, r, leads, in)
	case TypeErasure:
		return s.erase(ctx, a, r, leads)
	}
	return fmt.Errorf("privacy request %s: unknown type %q", r.ID, r.Type)
}

// BuildDocument reads everything held about the leads into r's document.
func (s *Service) BuildDocument(ctx context.Context, r Request, leads []lead.Lead) (Document, error) {
	doc := Document{Schema: SchemaName, SchemaVersion: SchemaVersion, RequestID: r.ID, OrgID: r.OrgID, GeneratedAt: s.now(),
		Subject: DocSubject{Phone: r.Subject.Phone, Email: r.Subject.Email, LeadID: r.Subject.LeadID}, Leads: make([]DocLead, 0, len(leads))}
	campaigns := map[string]campaign.Campaign{}
	for _, l := range leads {
		acts, err := s.History.Activities(ctx, r.OrgID, l.ID)
		if err != nil {
			return Document{}, fmt.Errorf("read activities of lead %s: %w", l.ID, err)
		}
		notes, err := s.History.Notes(ctx, r.OrgID, l.ID)
		if err != nil {
			return Document{}, fmt.Errorf("read notes of lead %s: %w", l.ID, err)
		}
		tasks, err := s.History.Tasks(ctx, r.OrgID, l.ID)
		if err != nil {
			return Document{}, fmt.Errorf("read tasks of lead %s: %w", l.ID, err)
		}
		appts, err := s.History.Appointments(ctx, r.OrgID, l.ID)
		if err != nil {
			return Document{}, fmt.Errorf("read appointments of lead %s: %w", l.ID, err)
		}
		msgs, err := s.History.Messages(ctx, r.OrgID, l.ID)
		if err != nil {
			return Document{}, fmt.Errorf("read messages of lead %s: %w", l.ID, err)
		}
		ids := make([]string, 0, len(msgs))
		for _, m := range msgs {
			if m.ProviderID != "" {
				ids = append(ids, m.ProviderID)
			}
		}
		logs, err := s.History.StatusLogs(ctx, ids)
		if err != nil {
			return Document{}, fmt.Errorf("read status logs of lead %s: %w", l.ID, err)
		}
		ledger, err := s.History.ConsentLedger(ctx, r.OrgID, l.ID)
		if err != nil {
			return Document{}, fmt.Errorf("read consent of lead %s: %w", l.ID, err)
		}
		for _, id := range campaignIDs(msgs) {
			if _, ok := campaigns[id]; ok {
				continue
			}
			c, err := s.History.GetCampaign(ctx, r.OrgID, id)
			if errors.Is(err, campaign.ErrNotFound) {
				continue
			}
			if err != nil {
				return Document{}, fmt.Errorf("read campaign %s: %w", id, err)
			}
			campaigns[id] = c
		}
		dl := docLead(l, acts, notes, msgs, logs, ledger, campaigns)
		dl.Tasks, dl.Appointments = docTasks(tasks), docAppointments(appts)
		doc.Leads = append(doc.Leads, dl)
	}
	return doc, nil
}

// chunker collects what is written into chunks of at most size bytes.
type chunker struct {
	size   int
	chunks [][]byte
	total  int64
}

func (c *chunker) Write(p []byte) (int, error) {
	n := len(p)
	c.total += int64(n)
	for len(p) > 0 {
		if len(c.chunks) == 0 || len(c.chunks[len(c.chunks)-1]) == c.size {
			c.chunks = append(c.chunks, make([]byte, 0, c.size))
		}
		last := &c.chunks[len(c.chunks)-1]
		k := min(c.size-len(*last), len(p))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err //nolint:wrapcheck // io.Writer contract
}

// Encode writes doc as JSON, gzip-compressed, into chunks of at most size
// bytes, and returns them with the JSON's size. The document is stored
// compressed and in chunks because the table is the only storage the
// platform has for it (no object store) and a DynamoDB item holds at most
// 400 KB: a person's export with thousands of messages runs to megabytes
// of JSON, which compresses several times over.
func Encode(doc Document, size int) (chunks [][]byte, jsonBytes int64, err error) {
	c := &chunker{size: size}
	gz, err := gzip.NewWriterLevel(c, gzip.BestSpeed)
	if err != nil {
		return nil, 0, fmt.Errorf("compress export: %w", err)
	}
	cnt := &counter{w: gz}
	if err := json.NewEncoder(cnt).Encode(doc); err != nil {
		return nil, 0, fmt.Errorf("encode export: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, 0, fmt.Errorf("compress export: %w", err)
	}
	return c.chunks, cnt.n, nil
}

func (s *Service) export(ctx context.Context, a lead.Actor, r *Request, leads []lead.Lead) error {
	doc, err := s.BuildDocument(ctx, *r, leads)
	if err != nil {
		return err
	}
	size := s.ChunkSize
	if size <= 0 {
		size = DefaultChunkSize
	}
	chunks, n, err := Encode(doc, size)
	if err != nil {
		return err
	}
	var stored int64
	for _, c := range chunks {
		stored += int64(len(c))
	}
	exp := &Export{SchemaVersion: SchemaVersion, Bytes: n, Stored: stored, Chunks: len(chunks), ExpiresAt: s.now().Add(ExportAvailable)}
	if err := s.Store.PutExportChunks(ctx, r.OrgID, r.ID, chunks, exp.ExpiresAt); err != nil {
		return fmt.Errorf("store export of privacy request %s: %w", r.ID, err)
	}
	r.Export = exp
	messages := 0
	for _, l := range doc.Leads {
		messages += len(l.Messages)
	}
	details := map[string]string{"leads": strconv.Itoa(len(leads)), "messages": strconv.Itoa(messages),
		"bytes": strconv.FormatInt(n, 10), "expires_at": exp.ExpiresAt.Format(time.RFC3339)}
	s.event(r, a.User.ID, EventExported, details)
	s.complete(r)
	s.Audit.Record(ctx, audit.Record{OrgID: r.OrgID, ActorID: a.User.ID, Action: ActionExport, TargetType: "privacy_request", TargetID: r.ID,
		Details: map[string]string{"type": string(r.Type), "leads": strconv.Itoa(len(leads)), "messages": strconv.Itoa(messages),
			"bytes": strconv.FormatInt(n, 10), "refs": RefsText(r.Refs)}})
	return nil
}

func (s *Service) correct(ctx context.Context, a lead.Actor, r *Request, leads []lead.Lead, in Input) error {
	switch len(leads) {
	case 0:
		s.fail(r, a.User.ID, ReasonNoMatch, nil)
		return nil
	case 1:
	default:
		s.fail(r, a.User.ID, ReasonSeveralMatch, map[string]string{"leads": strconv.Itoa(len(leads))})
		return nil
	}
	c := in.Changes
	p := lead.Patch{Name: c.Name, Phone: c.Phone, Email: c.Email, CustomFields: c.CustomFields, Tags: c.Tags, Correction: true}
	l, err := s.Corrector.Update(ctx, a, leads[0].ID, in.LeadVersion, p)
	var fe *lead.FieldError
	var dup *lead.DuplicateError
	var de *lead.DeniedError
	switch {
	case err == nil:
	case errors.Is(err, lead.ErrVersionMismatch):
		s.fail(r, a.User.ID, ReasonVersion, map[string]string{"lead_id": leads[0].ID})
		return nil
	case errors.As(err, &fe):
		s.fail(r, a.User.ID, ReasonInvalidChange, map[string]string{"lead_id": leads[0].ID, "field": fe.Field, "message": fe.Message})
		return nil
	case errors.As(err, &dup):
		s.fail(r, a.User.ID, ReasonDuplicateLead, map[string]string{"lead_id": leads[0].ID, "field": dup.Field, "existing_lead_id": dup.ExistingID})
		return nil
	case errors.As(err, &de), errors.Is(err, lead.ErrNotFound):
		s.fail(r, a.User.ID, ReasonChangeRefused, map[string]string{"lead_id": leads[0].ID})
		return nil
	default:
		return fmt.Errorf("correct lead %s: %w", leads[0].ID, err)
	}
	// The values the correction replaced do not live on in the timeline:
	// earlier activities lose every value of the fields it changed or
	// named that is not the corrected one (the correction's own entry
	// keeps no old value, lead.Patch.Correction). A failure is the
	// request's error: the lead is corrected; the same correction filed
	// again changes nothing and scrubs the fields it names.
	scrubbed := 0
	if s.Scrubber != nil {
		fields := lead.CorrectedFields(leads[0], l)
		for _, f := range c.fieldKeys() {
			if !slices.Contains(fields, f) {
				fields = append(fields, f)
			}
		}
		if scrubbed, err = s.Scrubber.ScrubActivities(ctx, l, fields, l.UpdatedAt); err != nil {
			return fmt.Errorf("scrub the timeline of lead %s: %w", l.ID, err)
		}
	}
	// The corrected phone and email name the person too (a later erasure
	// finds this request by them).
	r.Refs = s.refs(r.OrgID, r.Refs, l.Phone, l.Email)
	details := map[string]string{"lead_id": l.ID, "fields": strings.Join(r.FieldsChanged, ","), "version": strconv.Itoa(l.Version),
		"activities_scrubbed": strconv.Itoa(scrubbed)}
	s.event(r, a.User.ID, EventCorrected, details)
	s.complete(r)
	s.Audit.Record(ctx, audit.Record{OrgID: r.OrgID, ActorID: a.User.ID, Action: ActionCorrection, TargetType: "privacy_request", TargetID: r.ID,
		Details: map[string]string{"lead_id": l.ID, "fields": strings.Join(r.FieldsChanged, ","), "version": strconv.Itoa(l.Version), "refs": RefsText(r.Refs)}})
	return nil
}

// erase deletes the matched leads through the lead delete path, removes
// the export documents of earlier requests about the person and
// pseudonymizes those requests and r.
func (s *Service) erase(ctx context.Context, a lead.Actor, r *Request, leads []lead.Lead) error {
	receipt := map[string]int{}
	pending, started := false, false
	for _, l := range leads {
		d, err := s.deleteLead(ctx, l)
		if errors.Is(err, lead.ErrVersionMismatch) {
			s.fail(r, a.User.ID, ReasonErasureBlocked, map[string]string{"lead_id": l.ID})
			r.Receipt = receipt
			return nil
		}
		if err != nil {
			return err
		}
		for k, v := range d.Counts {
			receipt[k] += v
		}
		if d.Pending {
			pending = true
			if s.StartPurge != nil && s.StartPurge(ctx, l.OrgID, l.ID) == nil {
				started = true
			}
		}
	}
	n, chunks, err := s.pseudonymizeOthers(ctx, a, *r)
	if err != nil {
		return err
	}
	if n > 0 {
		receipt["privacy_request_pseudonymized"] = n
	}
	if chunks > 0 {
		receipt["privacy_export_chunk"] = chunks
	}
	r.Receipt = receipt
	details := map[string]string{"leads": strconv.Itoa(len(leads))}
	for k, v := range receipt {
		details["deleted_"+k] = strconv.Itoa(v)
	}
	if pending {
		// The rest of a long history is removed by the retention
		// function's lead purge job (the lead itself is gone already):
		// started at once, or by the next hourly run.
		details["purge"] = "pending"
		if started {
			details["purge"] = "started"
		}
		receipt["purge_pending"] = 1
	}
	s.event(r, a.User.ID, EventErased, details)
	r.Pseudonymize(s.now(), a.User.ID)
	s.complete(r)
	audDetails := map[string]string{"refs": RefsText(r.Refs)}
	maps.Copy(audDetails, details)
	s.Audit.Record(ctx, audit.Record{OrgID: r.OrgID, ActorID: a.User.ID, Action: ActionErasure, TargetType: "privacy_request", TargetID: r.ID,
		Details: audDetails})
	return nil
}

// deleteLead deletes l, re-reading it when it changed meanwhile.
func (s *Service) deleteLead(ctx context.Context, l lead.Lead) (lead.Deletion, error) {
	for attempt := 1; ; attempt++ {
		d, err := s.Leads.DeleteLead(ctx, l)
		if !errors.Is(err, lead.ErrVersionMismatch) || attempt == deleteAttempts {
			if err != nil && !errors.Is(err, lead.ErrVersionMismatch) {
				return d, fmt.Errorf("erase lead %s: %w", l.ID, err)
			}
			return d, err
		}
		l, err = s.Leads.GetLead(ctx, l.OrgID, l.ID)
		if errors.Is(err, lead.ErrNotFound) {
			return lead.Deletion{Counts: map[string]int{}}, nil
		}
		if err != nil {
			return lead.Deletion{}, fmt.Errorf("read lead %s: %w", l.ID, err)
		}
	}
}

// pseudonymizeOthers pseudonymizes the org's other requests about the
// person of r (by reference or lead id) and deletes their export
// documents; it returns how many requests and chunks.
func (s *Service) pseudonymizeOthers(ctx context.Context, a lead.Actor, r Request) (int, int, error) {
	var from page.Cursor
	requests, chunks := 0, 0
	for {
		list, next, err := s.Store.ListPrivacyRequests(ctx, r.OrgID, "", 100, from)
		if err != nil {
			return requests, chunks, fmt.Errorf("list privacy requests: %w", err)
		}
		for _, o := range list {
			if o.ID == r.ID || !o.PseudonymizedAt.IsZero() || !o.Concerns(r.Refs, r.LeadIDs) {
				continue
			}
			n, err := s.forget(ctx, a, o)
			if err != nil {
				return requests, chunks, err
			}
			requests++
			chunks += n
		}
		if next.IsZero() {
			return requests, chunks, nil
		}
		from = next
	}
}

// forget deletes o's export document and pseudonymizes o (re-reading it
// once when it changed meanwhile).
func (s *Service) forget(ctx context.Context, a lead.Actor, o Request) (int, error) {
	n, err := s.Store.DeleteExportChunks(ctx, o.OrgID, o.ID)
	if err != nil {
		return 0, fmt.Errorf("delete export of privacy request %s: %w", o.ID, err)
	}
	for attempt := 1; ; attempt++ {
		at := s.now()
		if o.Export != nil && o.Export.ExpiresAt.After(at) {
			o.Export.ExpiresAt = at
		}
		o.Pseudonymize(at, a.User.ID)
		o.Version++
		err := s.Store.PutPrivacyRequest(ctx, o)
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, ErrVersionMismatch) || attempt == deleteAttempts {
			return n, fmt.Errorf("pseudonymize privacy request %s: %w", o.ID, err)
		}
		if o, err = s.Store.GetPrivacyRequest(ctx, o.OrgID, o.ID); err != nil {
			return n, fmt.Errorf("read privacy request: %w", err)
		}
	}
}

// Get returns one request of the actor's org.
func (s *Service) Get(ctx context.Context, a lead.Actor, id string) (Request, error) {
	r, err := s.Store.GetPrivacyRequest(ctx, a.User.OrgID, id)
	if err != nil {
		return Request{}, fmt.Errorf("read privacy request: %w", err)
	}
	return r, nil
}

// List returns a page of the actor's org's requests, newest first.
func (s *Service) List(ctx context.Context, a lead.Actor, status Status, limit int, from page.Cursor) ([]Request, page.Cursor, error) {
	list, next, err := s.Store.ListPrivacyRequests(ctx, a.User.OrgID, status, limit, from)
	if err != nil {
		return nil, page.Cursor{}, fmt.Errorf("list privacy requests: %w", err)
	}
	return list, next, nil
}

// OpenExport checks that the actor may download request id's export now:
// only the user who filed the request (anyone else: ErrNotFound), while
// it is available (after: ErrExportExpired). It records the download in
// the request's history and the audit trail, and returns the request.
func (s *Service) OpenExport(ctx context.Context, a lead.Actor, id string) (Request, error) {
	r, err := s.Store.GetPrivacyRequest(ctx, a.User.OrgID, id)
	if err != nil {
		return Request{}, fmt.Errorf("read privacy request: %w", err)
	}
	if r.ActorID != a.User.ID {
		return Request{}, ErrNotFound
	}
	if r.Export == nil {
		return Request{}, ErrNoExport
	}
	if r.ExportExpired(s.now()) {
		return Request{}, ErrExportExpired
	}
	s.event(&r, a.User.ID, EventDownloaded, nil)
	r.Version++
	if err := s.Store.PutPrivacyRequest(ctx, r); err != nil && !errors.Is(err, ErrVersionMismatch) {
		return Request{}, fmt.Errorf("record download of privacy request %s: %w", r.ID, err)
	}
	s.Audit.Record(ctx, audit.Record{OrgID: r.OrgID, ActorID: a.User.ID, Action: ActionDownload, TargetType: "privacy_request", TargetID: r.ID,
		Details: map[string]string{"bytes": strconv.FormatInt(r.Export.Bytes, 10), "refs": RefsText(r.Refs)}})
	return r, nil
}

// StreamExport writes r's export document to w, gzip-compressed as stored
// (compressed true) or as JSON, chunk by chunk: the document is never
// whole in memory.
func (s *Service) StreamExport(ctx context.Context, r Request, w io.Writer, compressed bool) error {
	if compressed {
		err := s.Store.ExportChunks(ctx, r.OrgID, r.ID, func(c []byte) error {
			_, err := w.Write(c)
			return err //nolint:wrapcheck // wrapped below
		})
		if err != nil {
			return fmt.Errorf("stream export of privacy request %s: %w", r.ID, err)
		}
		return nil
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(s.Store.ExportChunks(ctx, r.OrgID, r.ID, func(c []byte) error {
			_, err := pw.Write(c)
			return err //nolint:wrapcheck // the reader reports it
		}))
	}()
	defer pr.Close()
	gz, err := gzip.NewReader(pr)
	if err != nil {
		return fmt.Errorf("open export of privacy request %s: %w", r.ID, err)
	}
	// The document is ours, and its size known: copy exactly that much (a
	// shorter stream is an error, a longer one is cut).
	if _, err := io.CopyN(w, gz, r.Export.Bytes); err != nil {
		return fmt.Errorf("stream export of privacy request %s: %w", r.ID, err)
	}
	return nil
}
