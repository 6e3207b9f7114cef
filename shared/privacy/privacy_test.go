package privacy_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/leadluence/backend/shared/privacy"
)

func TestDueDateAndOverdue(t *testing.T) {
	filed := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	r := privacy.Request{Status: privacy.StatusOpen, CreatedAt: filed, DueAt: privacy.DueDate(filed)}
	if want := time.Date(2026, 3, 31, 10, 0, 0, 0, time.UTC); !r.DueAt.Equal(want) {
		t.Fatalf("due %v, want %v", r.DueAt, want)
	}
	if r.Overdue(r.DueAt) || !r.Overdue(r.DueAt.Add(time.Second)) {
		t.Fatal("overdue must start just after the due date")
	}
	r.Status = privacy.StatusCompleted
	if r.Overdue(r.DueAt.Add(time.Hour)) {
		t.Fatal("a completed request is never overdue")
	}
}

func TestValidate(t *testing.T) {
	name := "x"
	var fe *privacy.FieldError
	for want, in := range map[string]privacy.Input{
		"type":         {Type: "forget", Subject: privacy.Subject{LeadID: "l"}},
		"subject":      {Type: privacy.TypeAccess},
		"changes":      {Type: privacy.TypeCorrection, Subject: privacy.Subject{LeadID: "l"}},
		"note":         {Type: privacy.TypeAccess, Subject: privacy.Subject{LeadID: "l"}, Note: strings.Repeat("n", privacy.MaxNoteLen+1)},
		"lead_version": {Type: privacy.TypeErasure, Subject: privacy.Subject{LeadID: "l"}, LeadVersion: 2},
	} {
		if err := in.Validate(); !errors.As(err, &fe) || fe.Field != want {
			t.Errorf("%s: Validate = %v", want, err)
		}
	}
	in := privacy.Input{Type: privacy.TypeAccess, Subject: privacy.Subject{LeadID: "l"}, Changes: privacy.Changes{Name: &name}}
	if err := in.Validate(); !errors.As(err, &fe) || fe.Field != "changes" {
		t.Errorf("changes on access: %v", err)
	}
	in.Type = privacy.TypeCorrection
	if err := in.Validate(); err != nil {
		t.Errorf("correction: %v", err)
	}
}

func TestConcernsAndPseudonymize(t *testing.T) {
	r := privacy.Request{Subject: privacy.Subject{Phone: "+919876543210", Email: "a@example.com"}, Note: "called",
		Refs: []string{"phone:aa"}, LeadIDs: []string{"L1"}}
	if !r.Concerns([]string{"phone:aa"}, nil) || !r.Concerns(nil, []string{"L1"}) || r.Concerns([]string{"email:bb"}, []string{"L2"}) {
		t.Fatal("Concerns")
	}
	r.Pseudonymize(time.Now(), "u1")
	if r.Subject.Phone != "" || r.Subject.Email != "" || r.Note != "" || r.PseudonymizedAt.IsZero() || len(r.Refs) != 1 {
		t.Fatalf("pseudonymized %+v", r)
	}
}

func TestEncodeChunksGzipJSON(t *testing.T) {
	doc := privacy.Document{Schema: privacy.SchemaName, SchemaVersion: privacy.SchemaVersion, RequestID: "R1",
		Leads: []privacy.DocLead{{ID: "L1", Name: strings.Repeat("long name ", 5000)}}}
	chunks, n, err := privacy.Encode(doc, 100)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i, c := range chunks {
		if len(c) > 100 || (i < len(chunks)-1 && len(c) != 100) {
			t.Fatalf("chunk %d has %d bytes", i, len(c))
		}
		all = append(all, c...)
	}
	zr, err := gzip.NewReader(bytes.NewReader(all))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(raw)) != n || n < 50000 || len(all) > int(n)/10 {
		t.Fatalf("json %d bytes (reported %d), stored %d", len(raw), n, len(all))
	}
	var back privacy.Document
	if err := json.Unmarshal(raw, &back); err != nil || back.Leads[0].ID != "L1" {
		t.Fatalf("decoded %v %+v", err, back.Leads)
	}
}
