package retention_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/retention"
)

// memStore is an in-memory retention.Store.
type memStore struct {
	mu       sync.Mutex
	orgs     []retention.OrgSettings
	msgs     map[string]conversation.Message
	cp       *retention.Checkpoint
	audits   []audit.Record
	stale    bool // DueContent also returns sanitized messages
	putCalls int
}

func (s *memStore) RetentionOrgs(_ context.Context, after string, limit int) ([]retention.OrgSettings, bool, error) {
	var out []retention.OrgSettings
	for _, o := range s.orgs {
		if o.OrgID > after {
			out = append(out, o)
		}
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

func (s *memStore) due(orgID string, before time.Time) []conversation.Message {
	var out []conversation.Message
	for _, m := range s.msgs {
		if m.OrgID == orgID && m.At.Before(before) && (s.stale || m.SanitizedAt.IsZero()) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *memStore) DueContent(_ context.Context, orgID string, before time.Time, limit int) ([]conversation.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.due(orgID, before)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *memStore) CountDueContent(_ context.Context, orgID string, before time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.due(orgID, before)), nil
}

func (s *memStore) PutSanitized(_ context.Context, m conversation.Message) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.putCalls++
	if !s.msgs[m.ID].SanitizedAt.IsZero() {
		return false, nil
	}
	s.msgs[m.ID] = m
	return true, nil
}

func (s *memStore) RetentionCheckpoint(context.Context, string) (retention.Checkpoint, bool, error) {
	if s.cp == nil {
		return retention.Checkpoint{}, false, nil
	}
	return *s.cp, true, nil
}

func (s *memStore) PutRetentionCheckpoint(_ context.Context, c retention.Checkpoint) error {
	s.cp = &c
	return nil
}

func (s *memStore) ClearRetentionCheckpoint(context.Context, string) error {
	s.cp = nil
	return nil
}

func (s *memStore) AppendAudit(_ context.Context, r audit.Record) error {
	s.audits = append(s.audits, r)
	return nil
}

func newMemStore(n int, asOf time.Time) *memStore {
	s := &memStore{orgs: []retention.OrgSettings{{OrgID: "org1"}}, msgs: map[string]conversation.Message{}}
	for i := range n {
		id := string(rune('A'+i/26)) + string(rune('a'+i%26))
		s.msgs[id] = conversation.Message{ID: id, OrgID: "org1", Text: "call 9876543210", At: asOf.AddDate(0, 0, -100)}
	}
	return s
}

func TestRunIsRateLimited(t *testing.T) {
	asOf := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	s := newMemStore(11, asOf)
	start := time.Now()
	res, err := (&retention.Runner{Store: s, Audit: s, Rate: 20}).Run(context.Background(), asOf)
	if err != nil || res.Total() != 11 {
		t.Fatalf("run: %+v, %v", res, err)
	}
	// 11 items at 20 a second: the first at once, then one every 50 ms.
	if took := time.Since(start); took < 450*time.Millisecond {
		t.Fatalf("11 items at 20/s took %s", took)
	}
	if len(s.audits) != 1 || s.audits[0].Details["messages"] != "11" || s.audits[0].Action != retention.ActionContentSanitized {
		t.Fatalf("audits %+v", s.audits)
	}
}

func TestRunStopsOnALaggingIndex(t *testing.T) {
	asOf := time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)
	s := newMemStore(250, asOf)
	for id, m := range s.msgs {
		m.SanitizedAt = asOf
		s.msgs[id] = m
	}
	s.stale = true
	res, err := (&retention.Runner{Store: s, Audit: s, Rate: 100000}).Run(context.Background(), asOf)
	if err != nil || !res.Complete || res.Total() != 0 {
		t.Fatalf("run: %+v, %v", res, err)
	}
	if s.putCalls != 100 {
		t.Fatalf("%d writes tried, want one batch (100)", s.putCalls)
	}
}
