package devstack

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseCalls(t *testing.T) {
	jsonReq := func(target, body string) *http.Request {
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("X-Amz-Target", target)
		return r
	}
	for _, c := range []struct {
		service string
		req     *http.Request
		body    string
		want    []Call
	}{
		{"dynamodb", jsonReq("DynamoDB_20120810.Query", ""), `{"TableName":"p-leadluence","IndexName":"GSI1"}`,
			[]Call{{Service: "dynamodb", Operation: "Query", Table: "p-leadluence", Index: "GSI1"}}},
		{"dynamodb", jsonReq("DynamoDB_20120810.TransactWriteItems", ""), `{"TransactItems":[{"Put":{"TableName":"t"}},{"ConditionCheck":{"TableName":"t"}}]}`,
			[]Call{{Service: "dynamodb", Operation: "TransactWriteItems", Part: "Put", Table: "t"}, {Service: "dynamodb", Operation: "TransactWriteItems", Part: "ConditionCheck", Table: "t"}}},
		{"dynamodb", jsonReq("DynamoDB_20120810.BatchWriteItem", ""), `{"RequestItems":{"t":[]}}`,
			[]Call{{Service: "dynamodb", Operation: "BatchWriteItem", Table: "t"}}},
		{"sqs", jsonReq("AmazonSQS.SendMessage", ""), `{"QueueUrl":"http://127.0.0.1:1/000000000000/p-intake"}`,
			[]Call{{Service: "sqs", Operation: "SendMessage", Queue: "http://127.0.0.1:1/000000000000/p-intake"}}},
		{"kms", jsonReq("TrentService.Decrypt", ""), `{"KeyId":"alias/p-leadluence","EncryptionContext":{"org_id":"o1"}}`,
			[]Call{{Service: "kms", Operation: "Decrypt", Key: "alias/p-leadluence", Context: map[string]string{"org_id": "o1"}}}},
		{"ses", httptest.NewRequest("POST", "/v2/email/outbound-emails", nil), `{"FromEmailAddress":"\"Org\" <a@b.example>"}`,
			[]Call{{Service: "ses", Operation: "SendEmail", Identity: "a@b.example"}}},
		{"ses", httptest.NewRequest("DELETE", "/v2/email/identities/a%40b.example", nil), ``,
			[]Call{{Service: "ses", Operation: "DeleteEmailIdentity", Identity: "a@b.example"}}},
		{"ses", httptest.NewRequest("POST", "/v2/email/custom-verification-email-templates", nil), `{"TemplateName":"leadluence-sender-ab"}`,
			[]Call{{Service: "ses", Operation: "CreateCustomVerificationEmailTemplate", Template: "leadluence-sender-ab"}}},
		{"ses", httptest.NewRequest("DELETE", "/v2/email/custom-verification-email-templates/leadluence-sender-ab", nil), ``,
			[]Call{{Service: "ses", Operation: "DeleteCustomVerificationEmailTemplate", Template: "leadluence-sender-ab"}}},
		{"ses", httptest.NewRequest("POST", "/v2/email/outbound-custom-verification-emails", nil), `{"EmailAddress":"a@b.example","TemplateName":"leadluence-sender-ab"}`,
			[]Call{{Service: "ses", Operation: "SendCustomVerificationEmail", Identity: "a@b.example", Template: "leadluence-sender-ab"}}},
		{"ses", httptest.NewRequest("GET", "/health-check", nil), ``, nil},
		{"dynamodb", httptest.NewRequest("GET", "/", nil), ``, nil},
	} {
		got := parseCalls(c.service, c.req, []byte(c.body))
		if len(got) == 2 && got[0].Part == "ConditionCheck" {
			got[0], got[1] = got[1], got[0]
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %s %s: got %+v, want %+v", c.service, c.req.Method, c.req.URL.Path, got, c.want)
		}
	}
}

func TestAppID(t *testing.T) {
	h := http.Header{}
	h.Set("User-Agent", "aws-sdk-go-v2/1.41.0 ua/2.1 os/linux lang/go#1.26 md/GOOS#linux api/dynamodb#1.50.0 app/leadluence-api m/E")
	if got := appID(h); got != "leadluence-api" {
		t.Errorf("appID = %q", got)
	}
	if got := appID(http.Header{"User-Agent": {"aws-sdk-go-v2/1.41.0"}}); got != "" {
		t.Errorf("appID without app = %q", got)
	}
}

func TestCallLogDedupes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "calls.jsonl")
	l, err := openCallLog(path)
	if err != nil {
		t.Fatal(err)
	}
	c := Call{App: "leadluence-api", Service: "kms", Operation: "Decrypt", Context: map[string]string{"org_id": "o"}}
	l.record(c)
	l.record(c)
	l.record(Call{Service: "sqs", Operation: "ListQueues"})
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 2 {
		t.Errorf("%d lines, want 2:\n%s", n, b)
	}
}
