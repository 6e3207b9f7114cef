// Package leakscan finds values that must not leak (personal data, tokens,
// secrets) in functions' logs and, for secrets, in plaintext in the table's
// items, in the messages left in SQS queues and DLQs and in the mails the
// SES stand-in holds (which are addressed to people, so only secrets count
// there): each marker is looked for in the forms a careless line would carry
// it in (case, without '+', digits only, the national number, separators
// removed, base64). The leak-scan and torture tests use it; it is test
// tooling, never deployed.
package leakscan

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/leadluence/backend/shared/logging"
	"github.com/leadluence/backend/tools/devstack/devstacktest"
)

// Marker is a value that must not leak; secret ones must not be stored
// in plaintext either.
type Marker struct {
	// Name says what the value is in a finding (never the value itself).
	Name string
	// Value is what must not leak.
	Value string
	// Secret markers must not be stored in plaintext either (ScanItems).
	Secret bool
}

// Variants is the marker and the forms a careless log line would carry
// it in: without a leading '+', digits only, a phone's last ten digits,
// lower-cased (matching is case-insensitive), base64 (standard and URL alphabets, with and without
// padding).
func Variants(m Marker) []string {
	v := []string{m.Value}
	if s := strings.TrimPrefix(m.Value, "+"); s != m.Value {
		v = append(v, s)
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, m.Value)
	if len(digits) >= 8 && len(digits) >= len(m.Value)-4 && digits != m.Value {
		v = append(v, digits)
	}
	if strings.HasPrefix(m.Value, "+") && len(digits) > 10 {
		// The national number, without the country code.
		v = append(v, digits[len(digits)-10:])
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		v = append(v, enc.EncodeToString([]byte(m.Value)))
	}
	return v
}

// Finding is a marker found in a log line or a table item.
type Finding struct {
	// Where names the log line or the item and attribute.
	Where string
	// Marker is the name of the marker found.
	Marker string
	// Excerpt is the text around the hit with every marker masked.
	Excerpt string
}

// String implements fmt.Stringer.
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s in %s", f.Where, f.Marker, f.Excerpt)
}

// ScanText reports every marker (in any variant) found in text, with the
// text truncated around the hit and every marker in it masked.
func ScanText(where, text string, markers []Marker) []Finding {
	low := strings.ToLower(text)
	// Phone numbers are also looked for with the separators people type
	// (spaces, dashes, brackets, dots) taken out of the text.
	squeezed := phoneSeparators.Replace(text)
	var out []Finding
	for _, m := range markers {
		for _, v := range Variants(m) {
			if i := strings.Index(low, strings.ToLower(v)); i >= 0 {
				out = append(out, Finding{Where: where, Marker: m.Name, Excerpt: maskExcerpt(text, i, markers)})
				break
			}
			if isPhoneLike(v) {
				if i := strings.Index(squeezed, v); i >= 0 {
					out = append(out, Finding{Where: where, Marker: m.Name, Excerpt: "(separators removed) " + maskExcerpt(squeezed, i, markers)})
					break
				}
			}
		}
	}
	return out
}

var phoneSeparators = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", ".", "")

// isPhoneLike is whether v is '+' and digits, or digits only.
func isPhoneLike(v string) bool {
	d := strings.TrimPrefix(v, "+")
	if len(d) < 8 {
		return false
	}
	for _, r := range d {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// maskExcerpt cuts text to about 160 characters around at and replaces
// every marker variant in the cut with <name>.
func maskExcerpt(text string, at int, markers []Marker) string {
	lo, hi := max(0, at-80), min(len(text), at+80)
	// Widen to whole markers so a cut cannot leave half a value unmasked.
	lo, hi = max(0, lo-64), min(len(text), hi+64)
	cut := text[lo:hi]
	for _, m := range markers {
		for _, v := range Variants(m) {
			cut = replaceFold(cut, v, "<"+m.Name+">")
		}
	}
	if len(cut) > 240 {
		cut = cut[:240] + "…"
	}
	return cut
}

// replaceFold replaces old in s case-insensitively.
func replaceFold(s, old, repl string) string {
	if old == "" {
		return s
	}
	var b strings.Builder
	low, lowOld := strings.ToLower(s), strings.ToLower(old)
	for {
		i := strings.Index(low, lowOld)
		if i < 0 || len(low) != len(s) {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s, low = s[i+len(old):], low[i+len(old):]
	}
}

// ScanLogs scans each function's log line by line.
func ScanLogs(logs map[string]string, markers []Marker) []Finding {
	names := make([]string, 0, len(logs))
	for fn := range logs {
		names = append(names, fn)
	}
	sort.Strings(names)
	var out []Finding
	for _, fn := range names {
		for i, line := range strings.Split(logs[fn], "\n") {
			out = append(out, ScanText(fmt.Sprintf("%s log line %d", fn, i+1), line, markers)...)
		}
	}
	return out
}

// ScanItems scans every attribute of every item for the secret markers.
func ScanItems(items []map[string]types.AttributeValue, markers []Marker) []Finding {
	var secrets []Marker
	for _, m := range markers {
		if m.Secret {
			secrets = append(secrets, m)
		}
	}
	var out []Finding
	for _, it := range items {
		key := fmt.Sprintf("item PK=%s SK=%s", attrString(it["PK"]), attrString(it["SK"]))
		for name, av := range it {
			for _, text := range devstacktest.AttrStrings(av) {
				out = append(out, ScanText(key+" attribute "+name, text, secrets)...)
			}
		}
	}
	return out
}

func attrString(av types.AttributeValue) string {
	if s, ok := av.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return fmt.Sprint(av)
}

// Secrets is the secret markers of markers.
func Secrets(markers []Marker) []Marker {
	var out []Marker
	for _, m := range markers {
		if m.Secret {
			out = append(out, m)
		}
	}
	return out
}

// QueueReader is the part of the SQS client ScanQueues needs.
type QueueReader interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// ScanQueues reads every message left in the queues (name -> URL; the
// DLQs among them) and scans its body and attributes for the secret
// markers: a queue body is addressed to a person (a phone number, an
// email) by design, a token or password is not. It holds each message
// while it reads the queue, then makes them all visible again (a message
// in flight elsewhere is not seen), and returns how many messages it read.
func ScanQueues(ctx context.Context, c QueueReader, queues map[string]string, markers []Marker) (_ []Finding, read int, err error) {
	secrets := Secrets(markers)
	names := make([]string, 0, len(queues))
	for name := range queues {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []Finding
	for _, name := range names {
		url := queues[name]
		seen := map[string]bool{}
		var held []string
		defer func() {
			for _, rh := range held {
				if _, verr := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String(rh)}); verr != nil && err == nil {
					err = fmt.Errorf("release a message of %s: %w", name, verr)
				}
			}
		}()
		for range 1000 {
			res, rerr := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
				VisibilityTimeout: 120, MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{"All"}})
			if rerr != nil {
				return nil, read, fmt.Errorf("receive from %s: %w", name, rerr)
			}
			fresh := 0
			for _, m := range res.Messages {
				held = append(held, aws.ToString(m.ReceiptHandle))
				id := aws.ToString(m.MessageId)
				if seen[id] {
					continue
				}
				seen[id], fresh = true, fresh+1
				read++
				where := fmt.Sprintf("queue %s message %s", name, id)
				out = append(out, ScanText(where+" body", aws.ToString(m.Body), secrets)...)
				for k, a := range m.MessageAttributes {
					out = append(out, ScanText(where+" attribute "+k, aws.ToString(a.StringValue)+string(a.BinaryValue), secrets)...)
				}
			}
			if fresh == 0 {
				break
			}
		}
	}
	return out, read, nil
}

// ScanMails reads every mail the SES stand-in holds (its /store page at
// sesURL) and scans each, whole, for the secret markers: a mail carries
// its recipient's address and name by design, a token or password never.
// It returns how many mails it read.
func ScanMails(ctx context.Context, sesURL string, markers []Marker) ([]Finding, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(sesURL, "/")+"/store", nil)
	if err != nil {
		return nil, 0, fmt.Errorf("read the SES stand-in's mails: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("read the SES stand-in's mails: %w", err)
	}
	defer resp.Body.Close()
	var st struct {
		Emails []json.RawMessage `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, 0, fmt.Errorf("decode the SES stand-in's mails: %w", err)
	}
	secrets := Secrets(markers)
	var out []Finding
	for i, raw := range st.Emails {
		var head struct {
			MessageID string `json:"messageId"`
			Subject   string `json:"subject"`
		}
		_ = json.Unmarshal(raw, &head)
		where := fmt.Sprintf("mail %d (%s)", i+1, head.MessageID)
		// The text as stored, and with JSON's escapes undone.
		text := string(raw)
		var plain any
		if json.Unmarshal(raw, &plain) == nil {
			text += "\n" + strings.Join(jsonStrings(plain), "\n")
		}
		out = append(out, ScanText(where, text, secrets)...)
	}
	return out, len(st.Emails), nil
}

// jsonStrings is every string in a decoded JSON value.
func jsonStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, jsonStrings(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range x {
			out = append(out, jsonStrings(e)...)
		}
		return out
	}
	return nil
}

// Checked is a logger for function fn in a test: when the test ends, its
// log is scanned for every marker (personal data and secrets) and each
// hit fails the test with where it came from.
func Checked(t testing.TB, fn string, markers ...Marker) *slog.Logger {
	t.Helper()
	l := &devstacktest.LogBuffer{}
	t.Cleanup(func() {
		for _, f := range ScanLogs(map[string]string{fn: l.String()}, markers) {
			t.Errorf("leaked: %s", f)
		}
	})
	// As lambdamain builds it (the redacting JSON handler), at Debug.
	return logging.New(l, slog.LevelDebug)
}
