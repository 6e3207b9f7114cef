package messaging

import (
	"sync"

	"github.com/microcosm-cc/bluemonday"
)

// emailPolicy is what an email's HTML part may hold: formatting, lists,
// tables, a few inline styles and links to http(s) and mailto URLs, which
// get rel="nofollow noreferrer noopener" and target="_blank". Scripts,
// event handler attributes, javascript: and other URL schemes, forms,
// frames, style sheets and images are removed: an image would load from a
// remote server when the lead opens the mail (a tracking pixel, and the
// lead's address and mail client told to whoever runs it), so an email
// links to pictures instead.
// It is built on first use: only the api links it, and a cold start
// that sends no email does not pay for it.
var emailPolicy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowStandardAttributes()
	p.AllowStandardURLs()
	p.AllowRelativeURLs(false)
	p.AllowURLSchemes("http", "https", "mailto")
	p.AllowAttrs("href").OnElements("a")
	p.RequireNoFollowOnLinks(true)
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.AllowElements("p", "br", "div", "span", "hr", "b", "strong", "i", "em", "u", "s", "small", "sub", "sup", "mark",
		"blockquote", "pre", "code", "h1", "h2", "h3", "h4", "h5", "h6", "abbr", "cite", "q")
	p.AllowLists()
	p.AllowTables()
	p.AllowStyles("color", "background-color", "font-weight", "font-style", "font-size", "font-family", "text-align",
		"text-decoration", "line-height", "padding", "margin", "width").Globally()
	return p
})

// sanitizeEmailHTML returns html with only what emailPolicy allows.
// prepareEmail applies it when the api accepts an email, so the stored
// message, what the history shows and what SES sends are the same
// sanitized HTML.
func sanitizeEmailHTML(html string) string {
	return emailPolicy().Sanitize(html)
}
