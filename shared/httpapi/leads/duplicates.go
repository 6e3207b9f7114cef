package leads

import (
	"context"
	"net/http"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/audit"
	"github.com/leadluence/backend/shared/httpapi"
)

// DuplicateOut is another lead likely to be the same person.
type DuplicateOut struct {
	Lead    LeadOut  `json:"lead"`
	Reasons []string `json:"reasons" doc:"Why: phone (its phone is this lead's phone without or with another country code, or its national number typed as international), email (its email is this lead's address without a +tag, or for Gmail without dots)."`
}

// DuplicateList is the likely duplicates of a lead.
type DuplicateList struct {
	Items []DuplicateOut `json:"items"`
}

func (s *server) registerDuplicates(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-lead-duplicates", Method: http.MethodGet, Path: "/v1/leads/{id}/duplicates", Tags: []string{"leads"},
		Summary: "List the org's leads likely to be the same person", Security: httpapi.BearerSecurity,
		Description: "Each candidate phone number and address is one exact lookup (no scan); an agent sees only its own leads.",
		Errors:      []int{http.StatusNotFound},
	}, s.listDuplicates)
}

func (s *server) listDuplicates(ctx context.Context, in *leadPath) (*struct{ Body DuplicateList }, error) {
	dups, err := s.deps.Leads.Duplicates(ctx, actor(ctx), in.ID)
	if err != nil {
		return nil, problem(ctx, s.Kit, "find duplicate leads", err)
	}
	defs, err := s.fieldDefs(ctx)
	if err != nil {
		return nil, err
	}
	out := &struct{ Body DuplicateList }{Body: DuplicateList{Items: make([]DuplicateOut, 0, len(dups))}}
	for _, d := range dups {
		out.Body.Items = append(out.Body.Items, DuplicateOut{Lead: leadOut(d.Lead, defs), Reasons: d.Reasons})
	}
	s.ReadAudit(ctx, audit.ActionDuplicatesRead, in.ID, map[string]string{"count": strconv.Itoa(len(dups))})
	return out, nil
}
