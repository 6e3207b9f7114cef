package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/leadluence/backend/shared/plan"
)

// Problem is an RFC 9457 problem details body. Validation failures list
// each bad field in Errors; some problems carry extension members such as
// the id of the lead a duplicate collides with.
type Problem struct {
	Type     string              `json:"type,omitempty" doc:"A URI reference identifying the problem type."`
	Title    string              `json:"title" doc:"Short summary of the problem type."`
	Status   int                 `json:"status" doc:"HTTP status code."`
	Detail   string              `json:"detail,omitempty" doc:"Explanation specific to this occurrence."`
	Instance string              `json:"instance,omitempty" doc:"URI reference of this occurrence."`
	Code     string              `json:"code,omitempty" doc:"Stable machine-readable problem code."`
	Errors   []*huma.ErrorDetail `json:"errors,omitempty" doc:"Field-level details."`
	// ExistingLeadID names the lead that already has a phone or email (409).
	ExistingLeadID string `json:"existing_lead_id,omitempty" doc:"The lead that already holds this phone or email; only when the caller may see that lead (not another agent's)."`
	// Channel and Purpose name the consent a consent_required send lacks.
	Channel string `json:"channel,omitempty" doc:"consent_required: the channel (whatsapp, email) whose opt-in is missing."`
	Purpose string `json:"purpose,omitempty" doc:"consent_required: the purpose (service, marketing) whose opt-in is missing."`
	// Limit and ResetsAt name the plan limit a plan_limit problem hit.
	Limit    string     `json:"limit,omitempty" doc:"plan_limit: the limit reached (api_requests_per_minute, leads_per_month, whatsapp_messages_per_day, email_messages_per_day, users, active_campaigns, integrations)."`
	ResetsAt *time.Time `json:"resets_at,omitempty" doc:"plan_limit: when the limit's period ends (UTC); absent for users, active_campaigns and integrations, which do not reset."`
}

// Error implements error.
func (p *Problem) Error() string { return p.Detail }

// GetStatus implements huma.StatusError.
func (p *Problem) GetStatus() int { return p.Status }

// ContentType makes huma answer problems as application/problem+json.
func (p *Problem) ContentType(ct string) string {
	if ct == "application/json" {
		return "application/problem+json"
	}
	return ct
}

// ProblemTypeBase prefixes problem type URIs.
const ProblemTypeBase = "https://docs.leadluence.com/problems/"

// newProblem is installed as huma.NewError so that every error huma makes
// (validation, bad JSON, body too large) uses the same shape.
func newProblem(status int, msg string, errs ...error) huma.StatusError {
	p := &Problem{Status: status, Title: http.StatusText(status), Detail: msg}
	if status == http.StatusRequestEntityTooLarge {
		// The same problem as a body refused before routing (Server.ServeHTTP).
		p = NewProblem(status, "body_too_large", msg)
	}
	for _, e := range errs {
		if e == nil {
			continue
		}
		if d, ok := e.(huma.ErrorDetailer); ok {
			p.Errors = append(p.Errors, tidyDetail(d.ErrorDetail()))
		} else {
			p.Errors = append(p.Errors, &huma.ErrorDetail{Message: e.Error()})
		}
	}
	return p
}

// tidyDetail names the missing field in "required property" errors
// (huma reports them at the parent) and never echoes a whole object or a
// password back.
func tidyDetail(d *huma.ErrorDetail) *huma.ErrorDetail {
	out := *d
	if name, ok := strings.CutPrefix(out.Message, "expected required property "); ok {
		if name, ok = strings.CutSuffix(name, " to be present"); ok {
			out.Location = out.Location + "." + name
			out.Value = nil
		}
	}
	switch out.Value.(type) {
	case map[string]any, []any:
		out.Value = nil
	}
	if strings.Contains(strings.ToLower(out.Location), "password") {
		out.Value = nil
	}
	return &out
}

// NewProblem is a problem with a stable code; its type is the code's URI.
func NewProblem(status int, code, detail string) *Problem {
	return &Problem{Type: ProblemTypeBase + code, Title: http.StatusText(status), Status: status, Detail: detail, Code: code}
}

func internalProblem() *Problem {
	return NewProblem(http.StatusInternalServerError, "internal", "internal error; it has been logged")
}

// FieldProblem is a 422 validation_failed on one body field.
func FieldProblem(field, message string) *Problem {
	p := NewProblem(http.StatusUnprocessableEntity, "validation_failed", "validation failed: "+field+" "+message)
	p.Errors = []*huma.ErrorDetail{{Message: message, Location: "body." + field}}
	return p
}

// CodedFieldProblem is a 422 on one body field with its own code.
func CodedFieldProblem(code, field, message string) *Problem {
	p := FieldProblem(field, message)
	p.Code, p.Type = code, ProblemTypeBase+code
	return p
}

// Unauthorized is the 401 of missing, invalid or expired credentials.
func Unauthorized() error {
	return NewProblem(http.StatusUnauthorized, "unauthorized", "missing, invalid or expired credentials")
}

// OrgClosed is the 403 answered to every user of a closed org.
func OrgClosed() error {
	return NewProblem(http.StatusForbidden, "org_closed",
		"this organisation's account is closed; its owner can reopen it within 90 days (POST /v1/org/reopen)")
}

// Forbidden is a 403 saying why; Kit.Deny also records the denial.
func Forbidden(detail string) error { return NewProblem(http.StatusForbidden, "forbidden", detail) }

// NotFound is the 404 of a missing what ("lead").
func NotFound(what string) error {
	return NewProblem(http.StatusNotFound, "not_found", what+" not found")
}

// BadCursor is the 400 of a cursor that is not valid for the listing.
func BadCursor() error {
	p := NewProblem(http.StatusBadRequest, "invalid_cursor", "cursor is not valid for this listing")
	p.Errors = []*huma.ErrorDetail{{Message: "invalid cursor", Location: "query.cursor"}}
	return p
}

// PlanLimit is the problem plan_limit of a use refused at the org's plan
// limit e, with status (429 for requests per minute, 403 otherwise), and
// the seconds until the limit resets (Retry-After) from now; 0 for a
// gauge, which does not reset.
func PlanLimit(e *plan.LimitError, status int, now time.Time) (*Problem, int) {
	what := "the organisation's plan allows " + strconv.Itoa(e.Limit) + " " + strings.ReplaceAll(string(e.Metric), "_", " ")
	if e.ResetsAt.IsZero() {
		// A gauge (users, active campaigns, integrations): room is made by
		// removing one, not by waiting.
		p := NewProblem(status, "plan_limit", what+"; all are in use (deactivate, pause or disconnect one, or move to a larger plan)")
		p.Limit = string(e.Metric)
		return p, 0
	}
	p := NewProblem(status, "plan_limit", what+"; it is reached until resets_at (a larger plan raises it)")
	at := e.ResetsAt.UTC()
	p.Limit, p.ResetsAt = string(e.Metric), &at
	return p, max(int(math.Ceil(at.Sub(now).Seconds())), 1)
}

// PlanLimitError is PlanLimit as a handler's error, with its Retry-After.
func PlanLimitError(e *plan.LimitError, status int, now time.Time) error {
	p, retry := PlanLimit(e, status, now)
	if retry == 0 {
		return p
	}
	return huma.ErrorWithHeaders(p, http.Header{"Retry-After": []string{strconv.Itoa(retry)}})
}
