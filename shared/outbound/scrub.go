package outbound

import (
	"context"
	"regexp"
	"time"

	"github.com/leadluence/backend/shared/conversation"
)

var (
	// arnPattern matches an Amazon Resource Name up to the next space,
	// quote, bracket or list punctuation.
	arnPattern = regexp.MustCompile("arn:aws[a-zA-Z-]*:[^\\s\"'`<>()\\[\\],;]+")
	// accountPattern matches a 12-digit AWS account id standing alone.
	accountPattern = regexp.MustCompile(`\b\d{12}\b`)
)

// scrub removes what a provider's error text may tell about the platform's
// own AWS account from a failure explanation that the organisation will
// read: ARNs always, and for an email (sent through AWS) any 12-digit
// number, an account id (a WhatsApp text may hold phone numbers of that
// length, which stay).
func scrub(s string, ch conversation.Channel) string {
	s = arnPattern.ReplaceAllString(s, "(a platform resource)")
	if ch == conversation.ChannelEmail {
		s = accountPattern.ReplaceAllString(s, "(the platform's account)")
	}
	return s
}

// failSend records a message's failure with its title and reason
// scrubbed: they are shown to the organisation, while provider errors
// (the email service's above all) can name the platform's AWS account and
// resources.
func (s *Sender) failSend(ctx context.Context, m conversation.Message, st conversation.Status, code int, title, reason string, at time.Time) error {
	return s.Store.FailSend(ctx, m.OrgID, m.LeadID, m.ID, st, code, scrub(title, m.Channel), scrub(reason, m.Channel), at) //nolint:wrapcheck // callers wrap it
}
