package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/integration"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
)

type integrationItem struct {
	PK string `dynamodbav:"PK"`
	SK string `dynamodbav:"SK"`
	// GSI1 lists every integration of a kind across orgs, for backfill.
	GSI1PK             string    `dynamodbav:"GSI1PK"`
	GSI1SK             string    `dynamodbav:"GSI1SK"`
	Type               string    `dynamodbav:"type"`
	OrgID              string    `dynamodbav:"org_id"`
	Kind               string    `dynamodbav:"kind"`
	ExternalID         string    `dynamodbav:"external_id"`
	Name               string    `dynamodbav:"name,omitempty"`
	WABAID             string    `dynamodbav:"waba_id,omitempty"`
	DisplayPhoneNumber string    `dynamodbav:"display_phone_number,omitempty"`
	FormIDs            []string  `dynamodbav:"form_ids,omitempty"`
	SealedToken        []byte    `dynamodbav:"sealed_token,omitempty"`
	Status             string    `dynamodbav:"status"`
	ConnectedBy        string    `dynamodbav:"connected_by,omitempty"`
	ConnectedAt        time.Time `dynamodbav:"connected_at"`
	UpdatedAt          time.Time `dynamodbav:"updated_at"`
	LastEventAt        time.Time `dynamodbav:"last_event_at,omitempty"`
	DroppedEvents      int       `dynamodbav:"dropped_events"`
	// BackfillSince is the creation time of the newest lead backfill saw.
	BackfillSince time.Time `dynamodbav:"backfill_since,omitempty"`
	// MPS is the number's send rate; 0 means the deployment default.
	MPS int `dynamodbav:"mps,omitempty"`
}

type ownerItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	OrgID  string `dynamodbav:"org_id"`
	Status string `dynamodbav:"status"`
}

func (i integrationItem) integration() integration.Integration {
	return integration.Integration{OrgID: i.OrgID, Kind: integration.Kind(i.Kind), ExternalID: i.ExternalID, Name: i.Name,
		WABAID: i.WABAID, DisplayPhoneNumber: i.DisplayPhoneNumber, FormIDs: i.FormIDs, SealedToken: i.SealedToken,
		Status: integration.Status(i.Status), ConnectedBy: i.ConnectedBy, ConnectedAt: i.ConnectedAt, UpdatedAt: i.UpdatedAt,
		LastEventAt: i.LastEventAt, DroppedEvents: i.DroppedEvents, BackfillSince: i.BackfillSince, MessagesPerSecond: i.MPS}
}

// ConnectIntegration stores an integration and claims its page or number
// for the org, all or nothing. A page or number held by another org (and
// not disconnected there) is integration.ErrOwnedElsewhere. Connecting
// again replaces the token and makes the integration active.
func (s *Store) ConnectIntegration(ctx context.Context, in integration.Integration) error {
	kind := string(in.Kind)
	av, err := marshal(integrationItem{PK: orgPK(in.OrgID), SK: integrationSK(kind, in.ExternalID), Type: "integration",
		GSI1PK: integrationsByKindPK(kind), GSI1SK: integrationsByKindSK(in.OrgID, in.ExternalID), BackfillSince: in.BackfillSince,
		OrgID: in.OrgID, Kind: kind, ExternalID: in.ExternalID, Name: in.Name, WABAID: in.WABAID,
		DisplayPhoneNumber: in.DisplayPhoneNumber, FormIDs: in.FormIDs, SealedToken: in.SealedToken,
		Status: string(integration.StatusActive), ConnectedBy: in.ConnectedBy, ConnectedAt: in.ConnectedAt, UpdatedAt: in.UpdatedAt,
		DroppedEvents: in.DroppedEvents, MPS: in.MessagesPerSecond})
	if err != nil {
		return err
	}
	owner, err := marshal(ownerItem{PK: metaOwnerPK(kind, in.ExternalID), SK: skOwner, Type: "meta_owner", OrgID: in.OrgID,
		Status: string(integration.StatusActive)})
	if err != nil {
		return err
	}
	disc := &types.AttributeValueMemberS{Value: string(integration.StatusDisconnected)}
	ownerPut := types.TransactWriteItem{Put: &types.Put{
		TableName: &s.table, Item: owner,
		ConditionExpression:      aws.String("attribute_not_exists(PK) OR org_id = :org OR #st = :disc"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":org": &types.AttributeValueMemberS{Value: in.OrgID}, ":disc": disc,
		},
	}}
	// A new connection (none, or a disconnected one) counts in the org's
	// integrations gauge in the same transaction, at the limit ctx
	// carries (plangauges.go); connecting again one that is connected
	// (a new token) does not.
	for range 4 {
		err = s.transact(ctx, []types.TransactWriteItem{ownerPut,
			{Put: &types.Put{TableName: &s.table, Item: av,
				ConditionExpression: aws.String("attribute_not_exists(PK) OR #st = :disc"), ExpressionAttributeNames: map[string]string{"#st": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":disc": disc}}},
			s.gaugeAdd(ctx, in.OrgID, plan.Integrations)})
		if itemFailed(err, 0) {
			return integration.ErrOwnedElsewhere
		}
		if !itemFailed(err, 1) {
			if itemFailed(err, 2) {
				return gaugeLimit(ctx, plan.Integrations)
			}
			break
		}
		// Connected already: replace it, as long as it stays connected.
		err = s.transact(ctx, []types.TransactWriteItem{ownerPut,
			{Put: &types.Put{TableName: &s.table, Item: av,
				ConditionExpression: aws.String("attribute_exists(PK) AND #st <> :disc"), ExpressionAttributeNames: map[string]string{"#st": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":disc": disc}}}})
		if itemFailed(err, 0) {
			return integration.ErrOwnedElsewhere
		}
		if !itemFailed(err, 1) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("connect %s %s: %w", kind, in.ExternalID, err)
	}
	return nil
}

// GetIntegration returns one integration of an org.
func (s *Store) GetIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string) (integration.Integration, error) {
	var it integrationItem
	ok, err := s.get(ctx, orgPK(orgID), integrationSK(string(kind), externalID), &it)
	if err != nil {
		return integration.Integration{}, err
	}
	if !ok {
		return integration.Integration{}, integration.ErrNotFound
	}
	return it.integration(), nil
}

// ListIntegrations returns every integration of an org.
func (s *Store) ListIntegrations(ctx context.Context, orgID string) ([]integration.Integration, error) {
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: orgPK(orgID)}, ":p": &types.AttributeValueMemberS{Value: prefixIntegration},
		},
	})
	var out []integration.Integration
	for p.HasMorePages() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list integrations of %s: %w", orgID, err)
		}
		for _, item := range pg.Items {
			var it integrationItem
			if err := unmarshal(item, &it); err != nil {
				return nil, err
			}
			out = append(out, it.integration())
		}
	}
	return out, nil
}

// IntegrationOwner returns the org a page or number belongs to.
func (s *Store) IntegrationOwner(ctx context.Context, kind integration.Kind, externalID string) (integration.Owner, error) {
	var it ownerItem
	ok, err := s.get(ctx, metaOwnerPK(string(kind), externalID), skOwner, &it)
	if err != nil {
		return integration.Owner{}, err
	}
	if !ok {
		return integration.Owner{}, integration.ErrNotFound
	}
	return integration.Owner{OrgID: it.OrgID, Status: integration.Status(it.Status)}, nil
}

// DisconnectIntegration stops collection at once: the integration and its
// ownership record are marked disconnected and the token is deleted. In
// the same transaction it records a pending purge of the Meta data the
// integration brought before at (integrationpurge.go).
func (s *Store) DisconnectIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string, at time.Time) error {
	disc := &types.AttributeValueMemberS{Value: string(integration.StatusDisconnected)}
	purge, err := s.integrationPurgeWrites(orgID, string(kind), externalID, at)
	if err != nil {
		return err
	}
	items := func(cond string) []types.TransactWriteItem {
		return append([]types.TransactWriteItem{
			{Update: &types.Update{
				TableName: &s.table, Key: key(orgPK(orgID), integrationSK(string(kind), externalID)),
				UpdateExpression:         aws.String("SET #st = :disc, updated_at = :at REMOVE sealed_token"),
				ConditionExpression:      aws.String(cond),
				ExpressionAttributeNames: map[string]string{"#st": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":disc": disc, ":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
				},
			}},
			{Update: &types.Update{
				TableName: &s.table, Key: key(metaOwnerPK(string(kind), externalID), skOwner),
				UpdateExpression:          aws.String("SET #st = :disc"),
				ConditionExpression:       aws.String("org_id = :org"),
				ExpressionAttributeNames:  map[string]string{"#st": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":disc": disc, ":org": &types.AttributeValueMemberS{Value: orgID}},
			}},
		}, purge...)
	}
	// A connected integration leaves the org's integrations gauge in the
	// same transaction (plangauges.go); one disconnected already is
	// marked again without it.
	err = s.transactSub(ctx, items("attribute_exists(PK) AND #st <> :disc"), orgID, plan.Integrations)
	if itemFailed(err, 0) && !itemFailed(err, 1) {
		err = s.transact(ctx, items("attribute_exists(PK)"))
	}
	if reasons := cancelReasons(err); reasons != nil && (conditionFailed(reasons[0]) || conditionFailed(reasons[1])) {
		return integration.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("disconnect %s %s: %w", kind, externalID, err)
	}
	return nil
}

// SetIntegrationStatus records a health change (token_invalid, say).
func (s *Store) SetIntegrationStatus(ctx context.Context, orgID string, kind integration.Kind, externalID string, st integration.Status) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), integrationSK(string(kind), externalID)),
		UpdateExpression:         aws.String("SET #st = :st"),
		ConditionExpression:      aws.String("attribute_exists(PK) AND #st <> :disc"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":st": &types.AttributeValueMemberS{Value: string(st)}, ":disc": &types.AttributeValueMemberS{Value: string(integration.StatusDisconnected)},
		},
	})
	if isConditionFailed(err) {
		return nil // disconnected meanwhile: nothing to mark
	}
	if err != nil {
		return fmt.Errorf("set integration status: %w", err)
	}
	return nil
}

// SetIntegrationRate sets a WhatsApp number's send rate (0: the default).
func (s *Store) SetIntegrationRate(ctx context.Context, orgID string, kind integration.Kind, externalID string, mps int, at time.Time) (integration.Integration, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), integrationSK(string(kind), externalID)),
		UpdateExpression:    aws.String("SET mps = :mps, updated_at = :at"),
		ConditionExpression: aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":mps": &types.AttributeValueMemberN{Value: fmt.Sprint(mps)},
			":at":  &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return integration.Integration{}, integration.ErrNotFound
	}
	if err != nil {
		return integration.Integration{}, fmt.Errorf("set integration rate: %w", err)
	}
	var it integrationItem
	if err := unmarshal(out.Attributes, &it); err != nil {
		return integration.Integration{}, err
	}
	return it.integration(), nil
}

// TouchIntegration records the time of the latest event received.
func (s *Store) TouchIntegration(ctx context.Context, orgID string, kind integration.Kind, externalID string, at time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), integrationSK(string(kind), externalID)),
		UpdateExpression:    aws.String("SET last_event_at = :at"),
		ConditionExpression: aws.String("attribute_exists(PK) AND (attribute_not_exists(last_event_at) OR last_event_at < :at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("touch integration: %w", err)
	}
	return nil
}

// CountDropped counts an event dropped because its integration is
// disconnected (the event itself is not stored).
func (s *Store) CountDropped(ctx context.Context, orgID string, kind integration.Kind, externalID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), integrationSK(string(kind), externalID)),
		UpdateExpression:          aws.String("ADD dropped_events :one"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("count dropped event: %w", err)
	}
	return nil
}

type parkedItem struct {
	PK      string    `dynamodbav:"PK"`
	SK      string    `dynamodbav:"SK"`
	Type    string    `dynamodbav:"type"`
	Payload []byte    `dynamodbav:"payload"`
	Parked  time.Time `dynamodbav:"parked_at"`
	// TTL expires the event 90 days after it was parked (ttl.go).
	TTL int64 `dynamodbav:"ttl"`
}

// ParkEvent keeps an event that cannot be processed until the integration
// is reconnected (its token was refused). key makes parking idempotent.
func (s *Store) ParkEvent(ctx context.Context, orgID string, kind integration.Kind, externalID, eventKey string, payload []byte) error {
	av, err := marshal(parkedItem{PK: parkedPK(orgID, string(kind), externalID), SK: eventKey, Type: "parked_event", Payload: payload, Parked: s.now(),
		TTL: parkedTTL(s.now())})
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av}); err != nil {
		return fmt.Errorf("park event: %w", err)
	}
	return nil
}

// ParkedEvents returns up to limit live parked events of an integration
// (expired ones are skipped, reading at most maxListPages pages).
func (s *Store) ParkedEvents(ctx context.Context, orgID string, kind integration.Kind, externalID string, limit int) (map[string][]byte, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: parkedPK(orgID, string(kind), externalID)}},
		Limit:                     aws.Int32(pageLimit(limit)),
	}
	res := map[string][]byte{}
	for range maxListPages {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list parked events: %w", err)
		}
		for _, item := range live(out.Items, s.now()) {
			var it parkedItem
			if err := unmarshal(item, &it); err != nil {
				return nil, err
			}
			if len(res) < limit {
				res[it.SK] = it.Payload
			}
		}
		if len(res) >= limit || out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return res, nil
}

// DeleteParkedEvent removes a parked event once it has been replayed.
func (s *Store) DeleteParkedEvent(ctx context.Context, orgID string, kind integration.Kind, externalID, eventKey string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(parkedPK(orgID, string(kind), externalID), eventKey)})
	if err != nil {
		return fmt.Errorf("delete parked event: %w", err)
	}
	return nil
}

// IntegrationsOfKind lists every active integration of a kind across orgs
// (GSI1), for scheduled jobs such as backfill. It reads one page of up to
// limit items after from.
func (s *Store) IntegrationsOfKind(ctx context.Context, kind integration.Kind, limit int, from page.Cursor) ([]integration.Integration, page.Cursor, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(indexGSI1),
		KeyConditionExpression:   aws.String("GSI1PK = :pk"),
		FilterExpression:         aws.String("#st = :active"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: integrationsByKindPK(string(kind))}, ":active": &types.AttributeValueMemberS{Value: string(integration.StatusActive)},
		},
		Limit: aws.Int32(pageLimit(limit)), ExclusiveStartKey: encodeKey(from),
	})
	if err != nil {
		return nil, page.Cursor{}, fmt.Errorf("list %s integrations: %w", kind, err)
	}
	list := make([]integration.Integration, 0, len(out.Items))
	for _, item := range out.Items {
		var it integrationItem
		if err := unmarshal(item, &it); err != nil {
			return nil, page.Cursor{}, err
		}
		list = append(list, it.integration())
	}
	return list, decodeKey(out.LastEvaluatedKey), nil
}

// SetBackfillSince records how far backfill got for an integration.
func (s *Store) SetBackfillSince(ctx context.Context, orgID string, kind integration.Kind, externalID string, since time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), integrationSK(string(kind), externalID)),
		UpdateExpression:    aws.String("SET backfill_since = :t"),
		ConditionExpression: aws.String("attribute_exists(PK) AND (attribute_not_exists(backfill_since) OR backfill_since < :t)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": &types.AttributeValueMemberS{Value: since.UTC().Format(time.RFC3339Nano)},
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("set backfill position: %w", err)
	}
	return nil
}
