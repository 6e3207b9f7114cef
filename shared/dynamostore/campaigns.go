package dynamostore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/campaign"
	"github.com/leadluence/backend/shared/conversation"
	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
	"github.com/leadluence/backend/shared/plan"
)

// A campaign is one item in its org's partition, ORG#<org> / CAMPAIGN#<id>.
// It holds what to send (template, parameters, number), whom to send it to
// (a lead.Filter), the ListLeads position of the next page to process and
// the running counts. Each processed page is committed with one UpdateItem
// that is conditional on the version the processor read: it moves the
// cursor, bumps the version and ADDs the page's counts, so two processors
// of the same page never both count it. The messages themselves are
// idempotent by client message id ("campaign:<id>:<lead id>"), so a page
// processed twice never sends twice either.

type campaignItem struct {
	PK               string              `dynamodbav:"PK"`
	SK               string              `dynamodbav:"SK"`
	Type             string              `dynamodbav:"type"`
	OrgID            string              `dynamodbav:"org_id"`
	ID               string              `dynamodbav:"id"`
	Name             string              `dynamodbav:"name"`
	Status           string              `dynamodbav:"status"`
	TemplateName     string              `dynamodbav:"template_name"`
	TemplateLanguage string              `dynamodbav:"template_language"`
	TemplateCategory string              `dynamodbav:"template_category"`
	PhoneNumberID    string              `dynamodbav:"phone_number_id"`
	Parameters       map[string][]string `dynamodbav:"parameters"`
	FilterStatus     string              `dynamodbav:"filter_status,omitempty"`
	FilterTag        string              `dynamodbav:"filter_tag,omitempty"`
	FilterSource     string              `dynamodbav:"filter_source,omitempty"`
	FilterAssignee   string              `dynamodbav:"filter_assignee_id,omitempty"`
	PageSize         int                 `dynamodbav:"page_size"`
	Cursor           map[string]string   `dynamodbav:"cursor,omitempty"`
	Version          int                 `dynamodbav:"version"`
	Matched          int                 `dynamodbav:"matched"`
	Queued           int                 `dynamodbav:"queued"`
	Skipped          map[string]int      `dynamodbav:"skipped"`
	CreatedBy        string              `dynamodbav:"created_by"`
	CreatedAt        time.Time           `dynamodbav:"created_at"`
	UpdatedAt        time.Time           `dynamodbav:"updated_at"`
}

func (i campaignItem) campaign() campaign.Campaign {
	c := campaign.Campaign{OrgID: i.OrgID, ID: i.ID, Name: i.Name, Status: i.Status, TemplateName: i.TemplateName,
		TemplateLanguage: i.TemplateLanguage, TemplateCategory: i.TemplateCategory, PhoneNumberID: i.PhoneNumberID,
		Parameters: i.Parameters, PageSize: i.PageSize, Cursor: page.NewCursor(i.Cursor), Version: i.Version, Matched: i.Matched,
		Queued: i.Queued, Skipped: i.Skipped, CreatedBy: i.CreatedBy, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt,
		Filter: lead.Filter{Status: lead.Status(i.FilterStatus), Tag: i.FilterTag, Source: i.FilterSource, AssigneeID: i.FilterAssignee}}
	if c.Skipped == nil {
		c.Skipped = map[string]int{}
	}
	return c
}

// CreateCampaign stores a new campaign (status, counts and version as
// given, normally running and zero).
func (s *Store) CreateCampaign(ctx context.Context, c campaign.Campaign) error {
	it := campaignItem{PK: orgPK(c.OrgID), SK: campaignSK(c.ID), Type: "campaign", OrgID: c.OrgID, ID: c.ID, Name: c.Name,
		Status: c.Status, TemplateName: c.TemplateName, TemplateLanguage: c.TemplateLanguage, TemplateCategory: c.TemplateCategory,
		PhoneNumberID: c.PhoneNumberID, Parameters: c.Parameters, FilterStatus: string(c.Filter.Status), FilterTag: c.Filter.Tag,
		FilterSource: c.Filter.Source, FilterAssignee: c.Filter.AssigneeID, PageSize: c.PageSize, Cursor: c.Cursor.Fields(),
		Version: c.Version, Matched: c.Matched, Queued: c.Queued, Skipped: c.Skipped, CreatedBy: c.CreatedBy,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
	if it.Skipped == nil {
		// ADD skipped.<reason> needs the map to exist.
		it.Skipped = map[string]int{}
	}
	av, err := marshal(it)
	if err != nil {
		return err
	}
	put := &types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}
	if c.Status != campaign.StatusRunning {
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.TableName, Item: put.Item, ConditionExpression: put.ConditionExpression})
	} else {
		// A running campaign counts in the org's active campaigns gauge,
		// at the limit ctx carries (plangauges.go).
		err = s.transact(ctx, []types.TransactWriteItem{s.gaugeAdd(ctx, c.OrgID, plan.ActiveCampaigns), {Put: put}})
		if itemFailed(err, 0) {
			return gaugeLimit(ctx, plan.ActiveCampaigns)
		}
	}
	if err != nil {
		return fmt.Errorf("create campaign %s: %w", c.ID, err)
	}
	return nil
}

// GetCampaign reads a campaign (consistently).
func (s *Store) GetCampaign(ctx context.Context, orgID, id string) (campaign.Campaign, error) {
	var it campaignItem
	ok, err := s.get(ctx, orgPK(orgID), campaignSK(id), &it)
	if err != nil {
		return campaign.Campaign{}, err
	}
	if !ok {
		return campaign.Campaign{}, campaign.ErrNotFound
	}
	return it.campaign(), nil
}

// ListCampaigns returns up to limit campaigns of an org, newest first,
// after the position from.
func (s *Store) ListCampaigns(ctx context.Context, orgID string, limit int, from page.Cursor) ([]campaign.Campaign, page.Cursor, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, ScanIndexForward: aws.Bool(false), Limit: aws.Int32(pageLimit(limit)),
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: orgPK(orgID)}, ":p": &types.AttributeValueMemberS{Value: prefixCampaign},
		},
		ExclusiveStartKey: encodeKey(from),
	})
	if err != nil {
		return nil, page.Cursor{}, fmt.Errorf("list campaigns of %s: %w", orgID, err)
	}
	list := make([]campaign.Campaign, 0, len(out.Items))
	for _, item := range out.Items {
		var it campaignItem
		if err := unmarshal(item, &it); err != nil {
			return nil, page.Cursor{}, err
		}
		list = append(list, it.campaign())
	}
	return list, decodeKey(out.LastEvaluatedKey), nil
}

// SetCampaignStatus moves a campaign from one status to another (paused ↔
// running). It returns campaign.ErrConflict when the campaign is not in
// status from, and campaign.ErrNotFound when there is none.
func (s *Store) SetCampaignStatus(ctx context.Context, orgID, id, from, to string, at time.Time) error {
	upd := &types.Update{
		TableName: &s.table, Key: key(orgPK(orgID), campaignSK(id)),
		UpdateExpression:         aws.String("SET #st = :to, updated_at = :at"),
		ConditionExpression:      aws.String("attribute_exists(PK) AND #st = :from"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":to": &types.AttributeValueMemberS{Value: to}, ":from": &types.AttributeValueMemberS{Value: from},
			":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
		},
	}
	// Leaving or entering running changes the org's active campaigns
	// gauge in the same transaction (plangauges.go): a resume at the
	// limit ctx carries is a *plan.LimitError.
	var err error
	switch running := campaign.StatusRunning; {
	case from == running && to != running:
		err = s.transactSub(ctx, []types.TransactWriteItem{{Update: upd}}, orgID, plan.ActiveCampaigns)
	case from != running && to == running:
		err = s.transact(ctx, []types.TransactWriteItem{{Update: upd}, s.gaugeAdd(ctx, orgID, plan.ActiveCampaigns)})
		if itemFailed(err, 1) {
			return gaugeLimit(ctx, plan.ActiveCampaigns)
		}
	default:
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: upd.TableName, Key: upd.Key, UpdateExpression: upd.UpdateExpression,
			ConditionExpression: upd.ConditionExpression, ExpressionAttributeNames: upd.ExpressionAttributeNames,
			ExpressionAttributeValues: upd.ExpressionAttributeValues})
	}
	if isConditionFailed(err) || itemFailed(err, 0) {
		if _, gerr := s.GetCampaign(ctx, orgID, id); gerr != nil {
			return gerr
		}
		return campaign.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("set campaign %s %s: %w", id, to, err)
	}
	return nil
}

// CommitCampaignPage records a processed page: the cursor of the next page
// (zero when it was the last, which completes the campaign), one more
// version, and the page's counts added atomically. It is conditional on
// version being the one the page was read at; otherwise it returns
// campaign.ErrConflict and counts nothing. A pause between reading and
// committing does not stop the commit: the page's messages were queued.
func (s *Store) CommitCampaignPage(ctx context.Context, orgID, id string, version int, next page.Cursor, n campaign.PageCounts, at time.Time) error {
	set := "SET #ver = #ver + :one, updated_at = :at"
	names := map[string]string{"#ver": "version"}
	vals := map[string]types.AttributeValue{
		":v": &types.AttributeValueMemberN{Value: strconv.Itoa(version)}, ":one": &types.AttributeValueMemberN{Value: "1"},
		":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)},
		":m":  &types.AttributeValueMemberN{Value: strconv.Itoa(n.Matched)}, ":q": &types.AttributeValueMemberN{Value: strconv.Itoa(n.Queued)},
	}
	remove := ""
	if next.IsZero() {
		set += ", #st = :done"
		names["#st"] = "status"
		vals[":done"] = &types.AttributeValueMemberS{Value: campaign.StatusCompleted}
		remove = " REMOVE #cur"
	} else {
		set += ", #cur = :cur"
		fields := next.Fields()
		cur := make(map[string]types.AttributeValue, len(fields))
		for k, v := range fields {
			cur[k] = &types.AttributeValueMemberS{Value: v}
		}
		vals[":cur"] = &types.AttributeValueMemberM{Value: cur}
	}
	names["#cur"] = "cursor"
	add := " ADD matched :m, queued :q"
	i := 0
	for reason, count := range n.Skipped {
		if count == 0 {
			continue
		}
		i++
		nk, vk := "#r"+strconv.Itoa(i), ":r"+strconv.Itoa(i)
		names[nk] = reason
		vals[vk] = &types.AttributeValueMemberN{Value: strconv.Itoa(count)}
		add += ", skipped." + nk + " " + vk
	}
	in := &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), campaignSK(id)),
		UpdateExpression:         aws.String(set + remove + add),
		ConditionExpression:      aws.String("attribute_exists(PK) AND #ver = :v"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	}
	if next.IsZero() {
		// Completing a running campaign takes it out of the org's active
		// campaigns gauge in the same transaction (plangauges.go); a
		// paused one (paused after its last page was read) counts no more.
		vals[":running"] = &types.AttributeValueMemberS{Value: campaign.StatusRunning}
		err := s.transactSub(ctx, []types.TransactWriteItem{{Update: &types.Update{TableName: in.TableName, Key: in.Key,
			UpdateExpression: in.UpdateExpression, ConditionExpression: aws.String(*in.ConditionExpression + " AND #st = :running"),
			ExpressionAttributeNames: names, ExpressionAttributeValues: vals}}}, orgID, plan.ActiveCampaigns)
		if err == nil {
			return nil
		}
		if !itemFailed(err, 0) {
			return fmt.Errorf("commit last page of campaign %s: %w", id, err)
		}
		delete(vals, ":running")
	}
	_, err := s.db.UpdateItem(ctx, in)
	if isConditionFailed(err) {
		return campaign.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("commit page of campaign %s: %w", id, err)
	}
	return nil
}

// CampaignOutcomes counts the current statuses of a campaign's messages
// (found through their client message id guards), reading at most limit
// of them: ok is false, and nothing is counted, when there are more.
func (s *Store) CampaignOutcomes(ctx context.Context, orgID, campaignID string, limit int) (counts map[conversation.Status]int, ok bool, err error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, Limit: aws.Int32(pageLimit(limit + 1)), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: orgPK(orgID)},
			":p":  &types.AttributeValueMemberS{Value: clientMessageSK(campaign.ClientMessageID(campaignID, ""))},
		},
	})
	if err != nil {
		return nil, false, fmt.Errorf("list messages of campaign %s: %w", campaignID, err)
	}
	if len(out.Items) > limit || out.LastEvaluatedKey != nil {
		return nil, false, nil
	}
	keys := make([]map[string]types.AttributeValue, 0, len(out.Items))
	for _, item := range out.Items {
		var g clientMessageItem
		if err := unmarshal(item, &g); err != nil {
			return nil, false, err
		}
		keys = append(keys, key(leadPartPK(orgID, g.LeadID), g.MsgSK))
	}
	counts = map[conversation.Status]int{}
	err = s.batchGet(ctx, keys, &batchProjection{expr: "#st", names: map[string]string{"#st": "status"}}, func(item map[string]types.AttributeValue) error {
		var m struct {
			Status string `dynamodbav:"status"`
		}
		if err := unmarshal(item, &m); err != nil {
			return err
		}
		counts[conversation.Status(m.Status)]++
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("messages of campaign %s: %w", campaignID, err)
	}
	return counts, true, nil
}
