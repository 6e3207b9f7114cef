package intake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/intake"
	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/meta"
	"github.com/leadluence/backend/shared/phone"
)

// memStore is intake's storage in memory: every page and number is
// connected to org "o1" (except the page and number "0", which are
// disconnected), every integration has a token, and every message id that
// starts with "wamid." or is an SES id of the samples is an outbound
// message of lead "l0".
type memStore struct {
	mu       sync.Mutex
	claimed  map[string]string
	leads    map[string]lead.Lead
	messages map[string]conversation.Message
	consent  []conversation.ConsentEntry
}

func newMemStore() *memStore {
	return &memStore{claimed: map[string]string{}, leads: map[string]lead.Lead{}, messages: map[string]conversation.Message{}}
}

var errNotFound = errors.New("not found")

func (s *memStore) IntegrationOwner(_ context.Context, _ integration.Kind, id string) (integration.Owner, error) {
	switch id {
	case "":
		return integration.Owner{}, integration.ErrNotFound
	case "0":
		return integration.Owner{OrgID: "o1", Status: integration.StatusDisconnected}, nil
	}
	return integration.Owner{OrgID: "o1", Status: integration.StatusActive}, nil
}

func (s *memStore) GetIntegration(_ context.Context, orgID string, kind integration.Kind, id string) (integration.Integration, error) {
	return integration.Integration{OrgID: orgID, Kind: kind, ExternalID: id, SealedToken: []byte("sealed"), Status: integration.StatusActive}, nil
}

func (s *memStore) SetIntegrationStatus(context.Context, string, integration.Kind, string, integration.Status) error {
	return nil
}

func (s *memStore) TouchIntegration(context.Context, string, integration.Kind, string, time.Time) error {
	return nil
}
func (s *memStore) CountDropped(context.Context, string, integration.Kind, string) error { return nil }
func (s *memStore) ParkEvent(context.Context, string, integration.Kind, string, string, []byte) error {
	return nil
}

func (s *memStore) GetOrg(_ context.Context, orgID string) (account.Org, error) {
	return account.Org{ID: orgID, DefaultRegion: "IN"}, nil
}

func (s *memStore) EventClaimed(_ context.Context, orgID, key string) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, ok := s.claimed[orgID+"|"+key]
	return ref, ok, nil
}

func (s *memStore) claim(orgID, key, ref string) error {
	if _, ok := s.claimed[orgID+"|"+key]; ok {
		return intake.ErrDuplicate
	}
	s.claimed[orgID+"|"+key] = ref
	return nil
}

func (s *memStore) create(l lead.Lead) error {
	for _, o := range s.leads {
		if o.OrgID != l.OrgID {
			continue
		}
		if l.Phone != "" && o.Phone == l.Phone {
			return &lead.DuplicateError{Field: "phone", ExistingID: o.ID}
		}
		if l.Email != "" && o.Email == l.Email {
			return &lead.DuplicateError{Field: "email", ExistingID: o.ID}
		}
	}
	s.leads[l.ID] = l
	return nil
}

func (s *memStore) CreateLeadForEvent(_ context.Context, l lead.Lead, key string, consent ...conversation.ConsentEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.claimed[l.OrgID+"|"+key]; ok {
		return intake.ErrDuplicate
	}
	if err := s.create(l); err != nil {
		return err
	}
	s.consent = append(s.consent, consent...)
	return s.claim(l.OrgID, key, l.ID)
}

// ConsentMapping maps a form question and a disclaimer checkbox, so fuzzed
// Lead Ads answers run through the consent rules too.
func (s *memStore) ConsentMapping(context.Context, string) (conversation.ConsentMapping, error) {
	return conversation.ConsentMapping{Rules: []conversation.ConsentRule{
		{Question: "whatsapp_opt_in", Yes: []string{"yes"}, Channel: conversation.ChannelWhatsApp, Purpose: conversation.PurposeMarketing},
		{Disclaimer: "email_ok", Channel: conversation.ChannelEmail, Purpose: "all"},
	}}, nil
}

func (s *memStore) AttachEvent(_ context.Context, orgID, key string, act lead.Activity) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.leads[act.LeadID]; !ok {
		return errNotFound
	}
	return s.claim(orgID, key, act.LeadID)
}

func (s *memStore) LeadConsent(ctx context.Context, orgID, leadID string) (map[string]string, error) {
	l, err := s.GetLead(ctx, orgID, leadID)
	return l.Consent, err
}

func (s *memStore) GetLead(_ context.Context, orgID, leadID string) (lead.Lead, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leads[leadID]
	if !ok || l.OrgID != orgID {
		return lead.Lead{}, lead.ErrNotFound
	}
	return l, nil
}

func (s *memStore) CreateLead(_ context.Context, l lead.Lead) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.create(l)
}

func (s *memStore) leadBy(orgID string, match func(lead.Lead) bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.leads {
		if l.OrgID == orgID && match(l) {
			return l.ID, nil
		}
	}
	return "", lead.ErrNotFound
}

func (s *memStore) LeadIDByPhone(_ context.Context, orgID, e164 string) (string, error) {
	return s.leadBy(orgID, func(l lead.Lead) bool { return l.Phone == e164 })
}

func (s *memStore) LeadIDByEmail(_ context.Context, orgID, email string) (string, error) {
	return s.leadBy(orgID, func(l lead.Lead) bool { return l.Email == email })
}

func (s *memStore) PutInboundMessage(_ context.Context, m conversation.Message, c *conversation.ConsentEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.messages[m.ProviderID]; ok {
		return intake.ErrDuplicate
	}
	s.messages[m.ProviderID] = m
	if c != nil {
		s.consent = append(s.consent, *c)
	}
	return nil
}

func (s *memStore) CreateLeadWithInboundMessage(_ context.Context, l lead.Lead, m conversation.Message,
	consentFor func(lead.Lead) *conversation.ConsentEntry) (*conversation.ConsentEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.create(l); err != nil {
		return nil, err
	}
	if _, ok := s.messages[m.ProviderID]; ok {
		delete(s.leads, l.ID)
		return nil, intake.ErrDuplicate
	}
	s.messages[m.ProviderID] = m
	c := consentFor(l)
	if c != nil {
		s.consent = append(s.consent, *c)
	}
	return c, nil
}

func (s *memStore) TouchLastInbound(context.Context, string, string, time.Time) error { return nil }

func outbound(id string) bool {
	return strings.HasPrefix(id, "wamid.") || strings.HasPrefix(id, "010f")
}

func (s *memStore) ApplyStatus(_ context.Context, ev conversation.StatusEvent) (bool, error) {
	if !outbound(ev.ProviderID) {
		return false, conversation.ErrUnknownMessage
	}
	return true, nil
}

func (s *memStore) MessageByProviderID(_ context.Context, id string) (conversation.Message, error) {
	if !outbound(id) {
		return conversation.Message{}, conversation.ErrUnknownMessage
	}
	return conversation.Message{OrgID: "o1", LeadID: "l0", ProviderID: id, Direction: conversation.Outbound}, nil
}

func (s *memStore) AppendConsentOnce(_ context.Context, c conversation.ConsentEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consent = append(s.consent, c)
	return nil
}

// opener opens every sealed token.
type opener struct{}

func (opener) Open(context.Context, string, []byte) ([]byte, error) { return []byte("page-token"), nil }

// graph answers every lead with the fuzzed Graph API answer, decoded as
// the Graph client decodes it.
type graph struct{ answer []byte }

func (g graph) Lead(_ context.Context, leadgenID, _ string) (meta.Lead, error) {
	var l meta.Lead
	if err := json.Unmarshal(g.answer, &l); err != nil {
		return meta.Lead{}, &meta.GraphError{HTTPStatus: 200, Message: "bad answer"}
	}
	if l.ID == "" {
		l.ID = leadgenID
	}
	return l, nil
}

// FuzzProcess applies arbitrary intake queue payloads (Meta webhooks and
// SES notifications) with an arbitrary Graph API answer for the Lead Ads
// lead, over storage in memory. It must not panic; it fails only with
// ErrRetry or a *PermanentError; and every lead it stores is valid as
// stored (lead.Normalize leaves it as is) and holds only valid UTF-8, as
// DynamoDB stores text.
// Run: go test -run '^$' -fuzz '^FuzzProcess$' -fuzztime 30s ./shared/intake/
func FuzzProcess(f *testing.F) {
	answer := []byte(`{"id":"1220000000000001","created_time":"2026-01-01T10:02:00+0000","ad_id":"120210000000000001","form_id":"901234567890123",` +
		`"platform":"fb","field_data":[{"name":"full_name","values":["Meera Iyer"]},{"name":"phone_number","values":["+919845012345"]},` +
		`{"name":"email","values":["meera@example.com"]},{"name":"budget","values":["10L"]}]}`)
	root := filepath.Join("..", "..", "events")
	for _, dir := range []string{"meta", "ses"} {
		paths, err := filepath.Glob(filepath.Join(root, dir, "*.json"))
		if err != nil || len(paths) == 0 {
			f.Fatalf("no samples in events/%s: %v", dir, err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, answer)
		}
	}
	for _, s := range []string{``, `{}`, `{"object":"page","entry":[{"changes":[{"field":"leadgen","value":{"page_id":"0","leadgen_id":"1"}}]}]}`,
		`{"Type":"Notification","TopicArn":"arn:aws:sns:us-east-1:1:ses","Message":"{}"}`} {
		f.Add([]byte(s), []byte(`{"field_data":[{"name":"FULL_NAME ","values":["A","B"]},{"name":"phone","values":["98450 12345"]}]}`))
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Date(2026, 1, 1, 10, 5, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, payload, graphAnswer []byte) {
		store := newMemStore()
		p := &intake.Processor{Store: store, Graph: graph{graphAnswer}, Tokens: opener{}, Log: log, DefaultRegion: "IN",
			Now: func() time.Time { return now }}
		_, err := p.Process(context.Background(), payload)
		var perm *intake.PermanentError
		if err != nil && !errors.Is(err, intake.ErrRetry) && !errors.As(err, &perm) {
			t.Fatalf("Process failed with %v: neither retry nor permanent", err)
		}
		for _, l := range store.leads {
			checkStoredLead(t, l)
		}
		for _, m := range store.messages {
			for _, s := range append([]string{m.Text, m.ID, m.LeadID}, mapStrings(m.Details)...) {
				if !utf8.ValidString(s) {
					t.Fatalf("stored message %+v holds invalid UTF-8 %q", m, s)
				}
			}
		}
	})
}

func mapStrings(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

// checkStoredLead fails unless l is a lead the API would store as is.
func checkStoredLead(t *testing.T, l lead.Lead) {
	t.Helper()
	again := l
	again.CustomFields = map[string]string{}
	for k, v := range l.CustomFields {
		again.CustomFields[k] = v
	}
	if err := lead.Normalize(&again, "IN", phone.Normalize); err != nil {
		t.Fatalf("stored lead %+v is not valid: %v", l, err)
	}
	if again.Phone != l.Phone || again.Email != l.Email || again.Name != l.Name {
		t.Fatalf("stored lead %+v is not normalized: %+v", l, again)
	}
	for _, s := range append([]string{l.Name, l.Phone, l.Email, l.Source}, mapStrings(l.CustomFields)...) {
		if !utf8.ValidString(s) {
			t.Fatalf("stored lead %+v holds invalid UTF-8 %q", l, s)
		}
	}
}
