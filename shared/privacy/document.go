package privacy

import (
	"maps"
	"slices"
	"time"

	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
)

// The export document: everything the org holds about one person, as one
// JSON object. docs/privacy-export.md describes it field by field; a change
// that is not backwards compatible raises SchemaVersion.

// SchemaName names the document's format.
const SchemaName = "leadluence.privacy-export"

// SchemaVersion is the version of the document's format.
const SchemaVersion = 1

// Document is the export of one request.
type Document struct {
	Schema        string     `json:"schema" doc:"Always leadluence.privacy-export."`
	SchemaVersion int        `json:"schema_version" doc:"The version of this format (docs/privacy-export.md)."`
	RequestID     string     `json:"request_id"`
	OrgID         string     `json:"org_id"`
	GeneratedAt   time.Time  `json:"generated_at"`
	Subject       DocSubject `json:"subject" doc:"Who asked, as the request names them."`
	Leads         []DocLead  `json:"leads" doc:"Every lead of the organisation the subject matched (usually one)."`
}

// DocSubject is the person as the request names them.
type DocSubject struct {
	Phone  string `json:"phone,omitempty" doc:"E.164."`
	Email  string `json:"email,omitempty"`
	LeadID string `json:"lead_id,omitempty"`
}

// DocLead is one lead and its whole history.
type DocLead struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Phone         string            `json:"phone,omitempty" doc:"E.164."`
	Email         string            `json:"email,omitempty"`
	Phones        []string          `json:"phones,omitempty" doc:"Secondary phones (E.164), from leads merged into this one."`
	Emails        []string          `json:"emails,omitempty" doc:"Secondary emails, from leads merged into this one."`
	Source        string            `json:"source"`
	Status        string            `json:"status"`
	Tags          []string          `json:"tags"`
	CustomFields  map[string]string `json:"custom_fields"`
	AssigneeID    string            `json:"assignee_id,omitempty" doc:"The staff user the lead is assigned to."`
	CreatedAt     time.Time         `json:"created_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
	LastInboundAt *time.Time        `json:"last_inbound_at,omitempty" doc:"Time of the person's latest WhatsApp message."`
	Consent       map[string]string `json:"consent" doc:"Current consent per channel:purpose, as opt_out@<time> or opt_in@<time>."`
	Provenance    *DocProvenance    `json:"provenance,omitempty" doc:"Where the lead came from, when from Meta."`
	Attribution   *DocAttribution   `json:"attribution,omitempty" doc:"The Click-to-WhatsApp ad or post of the person's first message, when there was one."`
	Activities    []DocActivity     `json:"activities" doc:"The lead's timeline, in time order."`
	Notes         []DocNote         `json:"notes" doc:"Notes staff wrote on the lead, oldest first."`
	Tasks         []DocTask         `json:"tasks" doc:"Tasks staff set themselves about the lead, oldest first."`
	Appointments  []DocAppointment  `json:"appointments" doc:"Appointments booked with the lead, oldest first."`
	Messages      []DocMessage      `json:"messages" doc:"Both directions, in time order, each with its status log."`
	ConsentLedger []DocConsent      `json:"consent_ledger" doc:"Every consent change, in time order."`
	Campaigns     []DocCampaign     `json:"campaigns" doc:"Campaigns that sent the person a message."`
}

// DocProvenance is where a lead came from.
type DocProvenance struct {
	IntegrationKind string   `json:"integration_kind"`
	IntegrationID   string   `json:"integration_id"`
	LeadgenID       string   `json:"leadgen_id,omitempty"`
	FormID          string   `json:"form_id,omitempty"`
	AdID            string   `json:"ad_id,omitempty"`
	AdsetID         string   `json:"adset_id,omitempty"`
	CampaignID      string   `json:"campaign_id,omitempty"`
	Fields          []string `json:"fields,omitempty" doc:"The fields filled from Meta data."`
}

// DocAttribution is the Click-to-WhatsApp referral of a lead's first
// message.
type DocAttribution struct {
	SourceType string `json:"source_type,omitempty" doc:"ad or post."`
	SourceID   string `json:"source_id,omitempty"`
	SourceURL  string `json:"source_url,omitempty"`
	CtwaClid   string `json:"ctwa_clid,omitempty" doc:"Meta's id of the tap on the ad."`
}

// DocActivity is an entry of the lead's timeline.
type DocActivity struct {
	ID       string            `json:"id"`
	Kind     string            `json:"kind"`
	At       time.Time         `json:"at"`
	ActorID  string            `json:"actor_id,omitempty" doc:"The staff user who did it; absent for the system."`
	Details  map[string]string `json:"details,omitempty"`
	Changes  []DocChange       `json:"changes,omitempty" doc:"The fields a change changed."`
	FromMeta bool              `json:"from_meta"`
}

// DocChange is one field's change in an activity.
type DocChange struct {
	Field       string   `json:"field"`
	Old         string   `json:"old,omitempty"`
	New         string   `json:"new,omitempty"`
	Added       []string `json:"added,omitempty"`
	Removed     []string `json:"removed,omitempty"`
	OldFromMeta bool     `json:"old_from_meta,omitempty" doc:"The old value came from Meta and is not kept."`
	// OldCorrected: lead.Change.OldCorrected.
	OldCorrected bool `json:"old_corrected,omitempty" doc:"The change corrected the person's data at their request; the old value is not kept."`
	// Scrubbed: lead.Change.Scrubbed.
	Scrubbed bool `json:"scrubbed,omitempty" doc:"A later correction of the field removed the values this change recorded."`
}

// DocNote is a note staff wrote on the lead.
type DocNote struct {
	ID        string    `json:"id"`
	AuthorID  string    `json:"author_id" doc:"The staff user who wrote it."`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DocTask is a task staff set about the lead.
type DocTask struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	DueAt       time.Time  `json:"due_at"`
	AssigneeID  string     `json:"assignee_id" doc:"The staff user it is assigned to."`
	Status      string     `json:"status" doc:"open or done."`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   time.Time  `json:"created_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

func docTasks(tasks []lead.Task) []DocTask {
	out := make([]DocTask, 0, len(tasks))
	for _, t := range tasks {
		dt := DocTask{ID: t.ID, Title: t.Title, DueAt: t.DueAt.UTC(), AssigneeID: t.AssigneeID, Status: string(t.Status),
			CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt.UTC()}
		if !t.CompletedAt.IsZero() {
			c := t.CompletedAt.UTC()
			dt.CompletedAt = &c
		}
		out = append(out, dt)
	}
	return out
}

// DocAppointment is an appointment booked with the lead.
type DocAppointment struct {
	ID          string     `json:"id"`
	StartsAt    time.Time  `json:"starts_at"`
	EndsAt      time.Time  `json:"ends_at"`
	Location    string     `json:"location,omitempty"`
	Notes       string     `json:"notes,omitempty"`
	AssigneeID  string     `json:"assignee_id" doc:"The staff user it is booked for."`
	Status      string     `json:"status" doc:"booked or cancelled."`
	CreatedAt   time.Time  `json:"created_at"`
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
}

func docAppointments(as []lead.Appointment) []DocAppointment {
	out := make([]DocAppointment, 0, len(as))
	for _, a := range as {
		d := DocAppointment{ID: a.ID, StartsAt: a.StartsAt.UTC(), EndsAt: a.EndsAt.UTC(), Location: a.Location, Notes: a.Notes,
			AssigneeID: a.AssigneeID, Status: string(a.Status), CreatedAt: a.CreatedAt.UTC()}
		if !a.CancelledAt.IsZero() {
			c := a.CancelledAt.UTC()
			d.CancelledAt = &c
		}
		out = append(out, d)
	}
	return out
}

// DocMessage is one message.
type DocMessage struct {
	ID          string            `json:"id"`
	Channel     string            `json:"channel" doc:"whatsapp or email."`
	Direction   string            `json:"direction" doc:"inbound or outbound."`
	Type        string            `json:"type"`
	Text        string            `json:"text,omitempty"`
	Media       *DocMedia         `json:"media,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Status      string            `json:"status"`
	ErrorCode   int               `json:"error_code,omitempty"`
	ErrorTitle  string            `json:"error_title,omitempty"`
	Reason      string            `json:"reason,omitempty"`
	At          time.Time         `json:"at"`
	Number      string            `json:"number,omitempty" doc:"The business's WhatsApp number id or sender address."`
	ProviderID  string            `json:"provider_id,omitempty"`
	Payload     string            `json:"payload,omitempty" doc:"For an outbound message, the provider request it became."`
	SanitizedAt *time.Time        `json:"sanitized_at,omitempty" doc:"When old content was masked under the retention settings."`
	StatusLog   []DocStatus       `json:"status_log"`
}

// DocMedia is a message's attachment, as referenced (the file is Meta's).
type DocMedia struct {
	ID       string `json:"id,omitempty"`
	MimeType string `json:"mime_type,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// DocStatus is one status report of a message.
type DocStatus struct {
	Status     string    `json:"status"`
	At         time.Time `json:"at"`
	ErrorCode  int       `json:"error_code,omitempty"`
	ErrorTitle string    `json:"error_title,omitempty"`
}

// DocConsent is one consent ledger entry.
type DocConsent struct {
	ID       string    `json:"id"`
	Channel  string    `json:"channel"`
	Purpose  string    `json:"purpose"`
	Action   string    `json:"action" doc:"opt_out or opt_in."`
	At       time.Time `json:"at"`
	Evidence string    `json:"evidence,omitempty"`
	Source   string    `json:"source,omitempty"`
	By       string    `json:"by,omitempty" doc:"The staff user who recorded it."`
	Reason   string    `json:"reason,omitempty"`
}

// DocCampaign is a campaign that sent the person messages.
type DocCampaign struct {
	ID       string     `json:"id"`
	Name     string     `json:"name,omitempty" doc:"Empty when the campaign no longer exists."`
	Template string     `json:"template,omitempty"`
	Language string     `json:"language,omitempty"`
	Messages []string   `json:"messages" doc:"Ids of the messages it sent the person."`
	FirstAt  *time.Time `json:"first_at,omitempty"`
}

// docLead builds a lead's part of the document from what the store holds.
func docLead(l lead.Lead, acts []lead.Activity, notes []lead.Note, msgs []conversation.Message, logs map[string][]conversation.StatusEvent,
	ledger []conversation.ConsentEntry, campaigns map[string]campaign.Campaign) DocLead {
	d := DocLead{ID: l.ID, Name: l.Name, Phone: l.Phone, Email: l.Email, Phones: l.Phones, Emails: l.Emails, Source: l.Source, Status: string(l.Status),
		Tags: nonNil(l.Tags), CustomFields: nonNilMap(l.CustomFields), AssigneeID: l.AssigneeID, CreatedAt: l.CreatedAt,
		UpdatedAt: l.UpdatedAt, Consent: nonNilMap(l.Consent), Activities: []DocActivity{}, Notes: []DocNote{}, Tasks: []DocTask{}, Appointments: []DocAppointment{}, Messages: make([]DocMessage, 0, len(msgs)),
		ConsentLedger: []DocConsent{}, Campaigns: []DocCampaign{}}
	if !l.LastInboundAt.IsZero() {
		t := l.LastInboundAt.UTC()
		d.LastInboundAt = &t
	}
	if p := l.Provenance; p != nil {
		d.Provenance = &DocProvenance{IntegrationKind: p.IntegrationKind, IntegrationID: p.IntegrationID, LeadgenID: p.LeadgenID,
			FormID: p.FormID, AdID: p.AdID, AdsetID: p.AdsetID, CampaignID: p.CampaignID, Fields: p.Fields}
	}
	if a := l.Attribution; a != nil {
		d.Attribution = &DocAttribution{SourceType: a.SourceType, SourceID: a.SourceID, SourceURL: a.SourceURL, CtwaClid: a.CtwaClid}
	}
	for _, a := range acts {
		da := DocActivity{ID: a.ID, Kind: a.Kind, At: a.At.UTC(), ActorID: a.ActorID, Details: a.Details, FromMeta: a.FromMeta}
		for _, c := range a.Changes {
			da.Changes = append(da.Changes, DocChange{Field: c.Field, Old: c.Old, New: c.New, Added: c.Added, Removed: c.Removed, OldFromMeta: c.OldFromMeta, OldCorrected: c.OldCorrected,
				Scrubbed: c.Scrubbed})
		}
		d.Activities = append(d.Activities, da)
	}
	for _, n := range notes {
		d.Notes = append(d.Notes, DocNote{ID: n.ID, AuthorID: n.AuthorID, Body: n.Body, CreatedAt: n.CreatedAt.UTC(), UpdatedAt: n.UpdatedAt.UTC()})
	}
	byCampaign := map[string]*DocCampaign{}
	for _, m := range msgs {
		dm := DocMessage{ID: m.ID, Channel: string(m.Channel), Direction: string(m.Direction), Type: m.Type, Text: m.Text,
			Details: m.Details, Status: string(m.Status), ErrorCode: m.ErrorCode, ErrorTitle: m.ErrorTitle, Reason: m.Reason,
			At: m.At.UTC(), Number: m.Number, ProviderID: m.ProviderID, Payload: m.Payload, StatusLog: []DocStatus{}}
		if md := m.Media; md != nil {
			dm.Media = &DocMedia{ID: md.ID, MimeType: md.MimeType, SHA256: md.SHA256, Caption: md.Caption, Filename: md.Filename}
		}
		if !m.SanitizedAt.IsZero() {
			t := m.SanitizedAt.UTC()
			dm.SanitizedAt = &t
		}
		for _, ev := range logs[m.ProviderID] {
			dm.StatusLog = append(dm.StatusLog, DocStatus{Status: string(ev.Status), At: ev.At.UTC(), ErrorCode: ev.ErrorCode, ErrorTitle: ev.ErrorTitle})
		}
		d.Messages = append(d.Messages, dm)
		if id := m.Details[conversation.DetailCampaignID]; id != "" {
			c := byCampaign[id]
			if c == nil {
				c = &DocCampaign{ID: id, Messages: []string{}}
				if cp, ok := campaigns[id]; ok {
					c.Name, c.Template, c.Language = cp.Name, cp.TemplateName, cp.TemplateLanguage
				}
				at := m.At.UTC()
				c.FirstAt = &at
				byCampaign[id] = c
			}
			c.Messages = append(c.Messages, m.ID)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(byCampaign)) {
		d.Campaigns = append(d.Campaigns, *byCampaign[id])
	}
	for _, e := range ledger {
		d.ConsentLedger = append(d.ConsentLedger, DocConsent{ID: e.ID, Channel: string(e.Channel), Purpose: e.Purpose, Action: e.Action,
			At: e.At.UTC(), Evidence: e.Evidence, Source: e.Source, By: e.By, Reason: e.Reason})
	}
	return d
}

// campaignIDs lists the campaigns the messages belong to.
func campaignIDs(msgs []conversation.Message) []string {
	var ids []string
	for _, m := range msgs {
		if id := m.Details[conversation.DetailCampaignID]; id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
