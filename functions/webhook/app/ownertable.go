package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/leadluence/backend/shared/integration"
)

// ownerTable reads owner items with one DynamoDB GetItem, made here over
// HTTP (the JSON protocol, SigV4 signed with the function's credentials)
// rather than through the DynamoDB SDK or shared/dynamostore: the webhook
// links neither (tools/links_test.go), which keeps its binary and cold
// start small; it needs this one read only.
//
// The item is the owner item of shared/dynamostore (keys.go metaOwnerPK:
// PK "META#<kind>#<external id>", SK "OWNER", attributes org_id and
// status), which ingest resolves a page or number by; the webhook's tests
// write it through dynamostore, so a change of that key fails them.
type ownerTable struct {
	http     *http.Client
	creds    aws.CredentialsProvider
	signer   *v4.Signer
	region   string
	endpoint string
	table    string
	// userAgent carries the app id (app/leadluence-webhook), as the SDK's
	// calls do.
	userAgent string
}

var _ Owners = (*ownerTable)(nil)

// newOwnerTable reads owner items of table with cfg's credentials and
// region, at the DynamoDB endpoint the SDK would use
// (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL, else the regional one).
func newOwnerTable(cfg aws.Config, table, appID string) *ownerTable {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	if endpoint == "" && cfg.BaseEndpoint != nil {
		endpoint = *cfg.BaseEndpoint
	}
	if endpoint == "" {
		endpoint = "https://dynamodb." + cfg.Region + ".amazonaws.com"
	}
	client := http.DefaultClient
	if c, ok := cfg.HTTPClient.(*http.Client); ok && c != nil {
		client = c
	}
	return &ownerTable{http: client, creds: cfg.Credentials, signer: v4.NewSigner(), region: cfg.Region,
		endpoint: endpoint, table: table, userAgent: "leadluence app/" + appID}
}

type attrS struct {
	S string `json:"S"`
}

type getItemIn struct {
	TableName                string            `json:"TableName"`
	Key                      map[string]attrS  `json:"Key"`
	ProjectionExpression     string            `json:"ProjectionExpression"`
	ExpressionAttributeNames map[string]string `json:"ExpressionAttributeNames"`
}

type getItemOut struct {
	Item *struct {
		OrgID  attrS `json:"org_id"`
		Status attrS `json:"status"`
	} `json:"Item"`
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// IntegrationOwner returns the org a page or number belongs to
// (integration.ErrNotFound when none does).
func (o *ownerTable) IntegrationOwner(ctx context.Context, kind integration.Kind, externalID string) (integration.Owner, error) {
	body, err := json.Marshal(getItemIn{
		TableName: o.table,
		Key: map[string]attrS{
			"PK": {S: "META#" + string(kind) + "#" + externalID},
			"SK": {S: "OWNER"},
		},
		ProjectionExpression:     "org_id, #s",
		ExpressionAttributeNames: map[string]string{"#s": "status"},
	})
	if err != nil {
		return integration.Owner{}, fmt.Errorf("owner of %s: %w", kind, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return integration.Owner{}, fmt.Errorf("owner of %s: %w", kind, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	req.Header.Set("User-Agent", o.userAgent)
	creds, err := o.creds.Retrieve(ctx)
	if err != nil {
		return integration.Owner{}, fmt.Errorf("owner of %s: credentials: %w", kind, err)
	}
	sum := sha256.Sum256(body)
	if err := o.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "dynamodb", o.region, time.Now()); err != nil {
		return integration.Owner{}, fmt.Errorf("owner of %s: sign: %w", kind, err)
	}
	resp, err := o.http.Do(req)
	if err != nil {
		return integration.Owner{}, fmt.Errorf("owner of %s: %w", kind, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return integration.Owner{}, fmt.Errorf("owner of %s: read answer: %w", kind, err)
	}
	var out getItemOut
	if err := json.Unmarshal(raw, &out); err != nil {
		return integration.Owner{}, fmt.Errorf("owner of %s: answer %d: %w", kind, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return integration.Owner{}, fmt.Errorf("owner of %s: GetItem %d %s: %s", kind, resp.StatusCode, out.Type, out.Message)
	}
	if out.Item == nil || out.Item.OrgID.S == "" {
		return integration.Owner{}, integration.ErrNotFound
	}
	return integration.Owner{OrgID: out.Item.OrgID.S, Status: integration.Status(out.Item.Status.S)}, nil
}
