package dynamostore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/lead"
	"github.com/leadluence/backend/shared/page"
)

type leadItem struct {
	PK           string            `dynamodbav:"PK"`
	SK           string            `dynamodbav:"SK"`
	GSI1PK       string            `dynamodbav:"GSI1PK"`
	GSI1SK       string            `dynamodbav:"GSI1SK"`
	GSI2PK       string            `dynamodbav:"GSI2PK,omitempty"`
	GSI2SK       string            `dynamodbav:"GSI2SK,omitempty"`
	Type         string            `dynamodbav:"type"`
	ID           string            `dynamodbav:"id"`
	OrgID        string            `dynamodbav:"org_id"`
	Name         string            `dynamodbav:"name"`
	Phone        string            `dynamodbav:"phone,omitempty"`
	Email        string            `dynamodbav:"email,omitempty"`
	Source       string            `dynamodbav:"source"`
	Status       string            `dynamodbav:"status"`
	Tags         []string          `dynamodbav:"tags"`
	CustomFields map[string]string `dynamodbav:"custom_fields"`
	AssigneeID   string            `dynamodbav:"assignee_id,omitempty"`
	CreatedBy    string            `dynamodbav:"created_by,omitempty"`
	CreatedAt    time.Time         `dynamodbav:"created_at"`
	UpdatedAt    time.Time         `dynamodbav:"updated_at"`
	Version      int               `dynamodbav:"version"`
	// Written by ingest; carried through every update.
	LastInboundAt time.Time         `dynamodbav:"last_inbound_at,omitempty"`
	Consent       map[string]string `dynamodbav:"consent"`
	Provenance    *provenanceAttr   `dynamodbav:"provenance,omitempty"`
	// Attribution is the Click-to-WhatsApp referral of the lead's first
	// message (lead.Attribution); Meta's data.
	Attribution *attributionAttr `dynamodbav:"attribution,omitempty"`
	// EditedAt is when a user last changed the lead (lead.Service.Update).
	EditedAt time.Time `dynamodbav:"edited_at,omitempty"`
	// PipelineID and StageID place the lead on a board; GSI3 files it in
	// the stage's column. A lead written before pipelines has none.
	PipelineID string `dynamodbav:"pipeline_id,omitempty"`
	StageID    string `dynamodbav:"stage_id,omitempty"`
	GSI3PK     string `dynamodbav:"GSI3PK,omitempty"`
	GSI3SK     string `dynamodbav:"GSI3SK,omitempty"`
	// SearchName is the name lower-cased after a space, so that
	// contains(search_name, " "+q) finds a word of it starting with q.
	SearchName string `dynamodbav:"search_name,omitempty"`
	// UniqueFields are the unique custom fields whose guard the lead holds.
	UniqueFields []string `dynamodbav:"cf_guards,omitempty"`
	// Phones and Emails are the secondary contacts a merge gave the lead;
	// the lead holds their guards too.
	Phones []string `dynamodbav:"phones,omitempty"`
	Emails []string `dynamodbav:"emails,omitempty"`
}

type provenanceAttr struct {
	IntegrationKind string   `dynamodbav:"integration_kind"`
	IntegrationID   string   `dynamodbav:"integration_id"`
	LeadgenID       string   `dynamodbav:"leadgen_id,omitempty"`
	FormID          string   `dynamodbav:"form_id,omitempty"`
	AdID            string   `dynamodbav:"ad_id,omitempty"`
	AdsetID         string   `dynamodbav:"adset_id,omitempty"`
	CampaignID      string   `dynamodbav:"campaign_id,omitempty"`
	Fields          []string `dynamodbav:"fields,omitempty"`
}

// attributionAttr is lead.Attribution.
type attributionAttr struct {
	SourceType string `dynamodbav:"source_type,omitempty"`
	SourceID   string `dynamodbav:"source_id,omitempty"`
	SourceURL  string `dynamodbav:"source_url,omitempty"`
	CtwaClid   string `dynamodbav:"ctwa_clid,omitempty"`
}

type guardItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	LeadID string `dynamodbav:"lead_id"`
}

func toLeadItem(l lead.Lead) leadItem {
	it := leadItem{
		PK: orgPK(l.OrgID), SK: leadSK(l.ID),
		GSI1PK: leadStatusPK(l.OrgID, string(l.Status)), GSI1SK: leadSK(l.ID),
		Type: "lead", ID: l.ID, OrgID: l.OrgID, Name: l.Name, Phone: l.Phone, Email: l.Email, Source: l.Source,
		Status: string(l.Status), Tags: l.Tags, CustomFields: l.CustomFields, AssigneeID: l.AssigneeID,
		CreatedBy: l.CreatedBy, CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, Version: l.Version,
	}
	if it.Tags == nil {
		it.Tags = []string{}
	}
	if it.CustomFields == nil {
		it.CustomFields = map[string]string{}
	}
	it.LastInboundAt = l.LastInboundAt
	it.EditedAt = l.EditedAt
	it.SearchName = searchName(l.Name)
	it.UniqueFields = l.UniqueFields
	it.Phones, it.Emails = l.Phones, l.Emails
	it.Consent = l.Consent
	if it.Consent == nil {
		it.Consent = map[string]string{}
	}
	if p := l.Provenance; p != nil {
		it.Provenance = &provenanceAttr{IntegrationKind: p.IntegrationKind, IntegrationID: p.IntegrationID, LeadgenID: p.LeadgenID,
			FormID: p.FormID, AdID: p.AdID, AdsetID: p.AdsetID, CampaignID: p.CampaignID, Fields: p.Fields}
	}
	if a := l.Attribution; a != nil {
		it.Attribution = &attributionAttr{SourceType: a.SourceType, SourceID: a.SourceID, SourceURL: a.SourceURL, CtwaClid: a.CtwaClid}
	}
	if l.AssigneeID != "" {
		it.GSI2PK, it.GSI2SK = leadAssigneePK(l.OrgID, l.AssigneeID), leadSK(l.ID)
	}
	if l.StageID != "" {
		it.PipelineID, it.StageID = l.PipelineID, l.StageID
		it.GSI3PK, it.GSI3SK = leadStagePK(l.OrgID, l.PipelineID, l.StageID), leadSK(l.ID)
	}
	return it
}

func (i leadItem) lead() lead.Lead {
	l := lead.Lead{ID: i.ID, OrgID: i.OrgID, Name: i.Name, Phone: i.Phone, Email: i.Email, Source: i.Source,
		Status: lead.Status(i.Status), Tags: i.Tags, CustomFields: i.CustomFields, AssigneeID: i.AssigneeID,
		CreatedBy: i.CreatedBy, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, Version: i.Version,
		LastInboundAt: i.LastInboundAt, Consent: i.Consent, EditedAt: i.EditedAt, PipelineID: i.PipelineID, StageID: i.StageID,
		UniqueFields: i.UniqueFields, Phones: i.Phones, Emails: i.Emails}
	if l.StageID == "" {
		// Written before pipelines: the default pipeline's stage of its
		// status (lead.DefaultPipeline).
		l.PipelineID, l.StageID = lead.DefaultPipelineID, string(l.Status)
	}
	if p := i.Provenance; p != nil {
		l.Provenance = &lead.Provenance{IntegrationKind: p.IntegrationKind, IntegrationID: p.IntegrationID, LeadgenID: p.LeadgenID,
			FormID: p.FormID, AdID: p.AdID, AdsetID: p.AdsetID, CampaignID: p.CampaignID, Fields: p.Fields}
	}
	if a := i.Attribution; a != nil {
		l.Attribution = &lead.Attribution{SourceType: a.SourceType, SourceID: a.SourceID, SourceURL: a.SourceURL, CtwaClid: a.CtwaClid}
	}
	return l
}

// guardPut claims a phone or email for a lead; guardDelete releases it.
func (s *Store) guardPut(orgID, sk, leadID string) (types.TransactWriteItem, error) {
	av, err := marshal(guardItem{PK: orgPK(orgID), SK: sk, Type: "lead_guard", LeadID: leadID})
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}, nil
}

func (s *Store) guardDelete(orgID, sk, leadID string) types.TransactWriteItem {
	return types.TransactWriteItem{Delete: &types.Delete{
		TableName: &s.table, Key: key(orgPK(orgID), sk),
		ConditionExpression:       aws.String("lead_id = :id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: leadID}},
	}}
}

// guardField is what a guard write protects, to name it in a DuplicateError.
type guardField struct {
	index int
	field string
	sk    string
}

// CreateLead writes a lead and claims its phone and email in the org, all or
// nothing. A taken phone or email is a *lead.DuplicateError naming the lead
// that holds it.
func (s *Store) CreateLead(ctx context.Context, l lead.Lead) error {
	items, guards, err := s.leadCreateWrites(ctx, l)
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return s.leadWriteError(ctx, l.OrgID, err, guards, "create lead "+l.ID)
}

// leadCreateWrites are the writes of a new lead: the item, its guards,
// when it has an assignee its conversation's place in that inbox, and the
// "created" activity of its timeline. The
// lead starts with the opt-outs a deleted lead of the org left for its
// phone or email (carrySuppression).
func (s *Store) leadCreateWrites(ctx context.Context, l lead.Lead) ([]types.TransactWriteItem, []guardField, error) {
	return s.newLeadWrites(ctx, &l, nil)
}

// newLeadWrites is leadCreateWrites with a last say: settle, when not nil,
// may change the lead after the carried opt-outs are on it and before it is
// written. A lead without a stage (one of intake) goes to the default
// pipeline's first stage.
func (s *Store) newLeadWrites(ctx context.Context, lp *lead.Lead, settle func(*lead.Lead)) ([]types.TransactWriteItem, []guardField, error) {
	items, guards, acts, err := s.newLeadParts(ctx, lp, settle)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range acts {
		w, err := s.activityPut(a)
		if err != nil {
			return nil, nil, err
		}
		items = append(items, w)
	}
	return items, guards, nil
}

// newLeadParts is newLeadWrites with the lead's first activities ("created",
// and "assigned" when a rule picked the assignee) returned instead of
// written.
func (s *Store) newLeadParts(ctx context.Context, lp *lead.Lead, settle func(*lead.Lead)) ([]types.TransactWriteItem, []guardField, []lead.Activity, error) {
	if lp.StageID == "" {
		def, err := s.Pipeline(ctx, lp.OrgID, lead.DefaultPipelineID)
		if err != nil {
			return nil, nil, nil, err
		}
		def.Place(lp, false)
	}
	carried, err := s.carrySuppression(ctx, lp)
	if err != nil {
		return nil, nil, nil, err
	}
	if settle != nil {
		settle(lp)
	}
	l := *lp
	av, err := marshal(toLeadItem(l))
	if err != nil {
		return nil, nil, nil, err
	}
	items := []types.TransactWriteItem{{Put: &types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}}}
	var guards []guardField
	if l.Phone != "" {
		g, err := s.guardPut(l.OrgID, leadPhoneSK(l.Phone), l.ID)
		if err != nil {
			return nil, nil, nil, err
		}
		guards = append(guards, guardField{len(items), "phone", leadPhoneSK(l.Phone)})
		items = append(items, g)
	}
	if l.Email != "" {
		g, err := s.guardPut(l.OrgID, leadEmailSK(l.Email), l.ID)
		if err != nil {
			return nil, nil, nil, err
		}
		guards = append(guards, guardField{len(items), "email", leadEmailSK(l.Email)})
		items = append(items, g)
	}
	cf := fieldGuards(l)
	for _, sk := range slices.Sorted(maps.Keys(cf)) {
		g, err := s.guardPut(l.OrgID, sk, l.ID)
		if err != nil {
			return nil, nil, nil, err
		}
		guards = append(guards, guardField{len(items), cf[sk], sk})
		items = append(items, g)
	}
	if l.AssigneeID != "" {
		items = append(items, s.conversationAssignee(l.OrgID, l.ID, l.AssigneeID))
	}
	items = append(items, carried...)
	canon, err := s.canonWrites(l.OrgID, l.ID, nil, canonEmails(l))
	if err != nil {
		return nil, nil, nil, err
	}
	items = append(items, canon...)
	return items, guards, firstActivities(l, lead.CreatedActivity(l)), nil
}

// leadWriteError turns a cancelled lead transaction into a domain error.
func (s *Store) leadWriteError(ctx context.Context, orgID string, err error, guards []guardField, what string) error {
	if err == nil {
		return nil
	}
	reasons := cancelReasons(err)
	if reasons == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// The lead item is always first: a stale version wins over a duplicate,
	// since the caller must re-read before anything else makes sense.
	if len(reasons) > 0 && conditionFailed(reasons[0]) {
		return lead.ErrVersionMismatch
	}
	for _, g := range guards {
		if g.index >= len(reasons) || !conditionFailed(reasons[g.index]) {
			continue
		}
		var holder guardItem
		if item := reasons[g.index].Item; item != nil {
			if err := unmarshal(item, &holder); err != nil {
				return err
			}
		} else if _, err := s.get(ctx, orgPK(orgID), g.sk, &holder); err != nil {
			return err
		}
		return &lead.DuplicateError{Field: g.field, ExistingID: holder.LeadID}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// GetLead returns one lead of an org, its LastInboundAt the latest its
// conversation summary holds (inbox.go).
func (s *Store) GetLead(ctx context.Context, orgID, leadID string) (lead.Lead, error) {
	var it leadItem
	ok, err := s.get(ctx, orgPK(orgID), leadSK(leadID), &it)
	if err != nil {
		return lead.Lead{}, err
	}
	if !ok {
		return lead.Lead{}, lead.ErrNotFound
	}
	at, err := s.inboundWindow(ctx, orgID, leadID)
	if err != nil {
		return lead.Lead{}, err
	}
	return withWindow(it.lead(), at), nil
}

// UpdateLead replaces old with next (next.Version must be old.Version+1),
// moving the phone and email guards when they change, and writes acts
// (the timeline's record of the change) in the same transaction. If the
// stored lead is no longer at old.Version the result is
// lead.ErrVersionMismatch.
func (s *Store) UpdateLead(ctx context.Context, old, next lead.Lead, acts ...lead.Activity) error {
	av, err := marshal(toLeadItem(next))
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.table, Item: av,
		ConditionExpression:       aws.String("attribute_exists(PK) AND version = :v"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: fmt.Sprint(old.Version)}},
	}}}
	var guards []guardField
	for _, f := range []struct{ field, was, now string }{
		{"phone", old.Phone, next.Phone}, {"email", old.Email, next.Email},
	} {
		if f.was == f.now {
			continue
		}
		sk := func(v string) string {
			if f.field == "phone" {
				return leadPhoneSK(v)
			}
			return leadEmailSK(v)
		}
		if f.was != "" {
			items = append(items, s.guardDelete(old.OrgID, sk(f.was), old.ID))
		}
		if f.now != "" {
			g, err := s.guardPut(old.OrgID, sk(f.now), old.ID)
			if err != nil {
				return err
			}
			guards = append(guards, guardField{len(items), f.field, sk(f.now)})
			items = append(items, g)
		}
	}
	oldCF, nextCF := fieldGuards(old), fieldGuards(next)
	for _, sk := range slices.Sorted(maps.Keys(oldCF)) {
		if _, keep := nextCF[sk]; !keep {
			items = append(items, s.fieldGuardDelete(old.OrgID, sk, old.ID))
		}
	}
	for _, sk := range slices.Sorted(maps.Keys(nextCF)) {
		if _, had := oldCF[sk]; had {
			continue
		}
		g, err := s.guardPut(old.OrgID, sk, old.ID)
		if err != nil {
			return err
		}
		guards = append(guards, guardField{len(items), nextCF[sk], sk})
		items = append(items, g)
	}
	if old.AssigneeID != next.AssigneeID {
		items = append(items, s.conversationAssignee(old.OrgID, old.ID, next.AssigneeID))
	}
	canon, err := s.canonWrites(old.OrgID, old.ID, canonEmails(old), canonEmails(next))
	if err != nil {
		return err
	}
	items = append(items, canon...)
	for _, a := range acts {
		w, err := s.activityPut(a)
		if err != nil {
			return err
		}
		items = append(items, w)
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	return s.leadWriteError(ctx, old.OrgID, err, guards, "update lead "+old.ID)
}

// ListLeads returns up to limit leads of an org, newest first, starting
// after the position from. It picks one access path: the assignee index
// (GSI2) when filtering by assignee, the status index (GSI1) when filtering
// by status, else the org partition; the remaining filters are applied by
// DynamoDB as a filter expression. Without filters it is exactly one Query.
func (s *Store) ListLeads(ctx context.Context, orgID string, f lead.Filter, limit int, from page.Cursor) (lead.Page, error) {
	var (
		index   *string
		keyCond string
		filters []string
		names   = map[string]string{}
		vals    = map[string]types.AttributeValue{}
	)
	switch {
	case f.StageID != "":
		index, keyCond = aws.String(indexGSI3), "GSI3PK = :pk"
		vals[":pk"] = &types.AttributeValueMemberS{Value: leadStagePK(orgID, f.PipelineID, f.StageID)}
		if f.AssigneeID != "" {
			filters = append(filters, "assignee_id = :assignee")
			vals[":assignee"] = &types.AttributeValueMemberS{Value: f.AssigneeID}
		}
		if f.Status != "" {
			filters = append(filters, "#status = :status")
			names["#status"], vals[":status"] = "status", &types.AttributeValueMemberS{Value: string(f.Status)}
		}
	case f.AssigneeID != "":
		index, keyCond = aws.String(indexGSI2), "GSI2PK = :pk"
		vals[":pk"] = &types.AttributeValueMemberS{Value: leadAssigneePK(orgID, f.AssigneeID)}
		if f.Status != "" {
			filters = append(filters, "#status = :status")
			names["#status"], vals[":status"] = "status", &types.AttributeValueMemberS{Value: string(f.Status)}
		}
	case f.Status != "":
		index, keyCond = aws.String(indexGSI1), "GSI1PK = :pk"
		vals[":pk"] = &types.AttributeValueMemberS{Value: leadStatusPK(orgID, string(f.Status))}
	default:
		keyCond = "PK = :pk AND begins_with(SK, :prefix)"
		vals[":pk"], vals[":prefix"] = &types.AttributeValueMemberS{Value: orgPK(orgID)}, &types.AttributeValueMemberS{Value: prefixLead}
	}
	if f.PipelineID != "" && f.StageID == "" {
		cond := "pipeline_id = :pipeline"
		if f.PipelineID == lead.DefaultPipelineID {
			cond = "(attribute_not_exists(pipeline_id) OR pipeline_id = :pipeline)"
		}
		filters = append(filters, cond)
		vals[":pipeline"] = &types.AttributeValueMemberS{Value: f.PipelineID}
	}
	if f.Tag != "" {
		filters = append(filters, "contains(#tags, :tag)")
		names["#tags"], vals[":tag"] = "tags", &types.AttributeValueMemberS{Value: f.Tag}
	}
	for i, t := range f.Tags {
		n := fmt.Sprintf(":tag%d", i)
		filters = append(filters, "contains(#tags, "+n+")")
		names["#tags"], vals[n] = "tags", &types.AttributeValueMemberS{Value: t}
	}
	for i, ff := range f.CustomFields {
		n, v := fmt.Sprintf("#cf%d", i), fmt.Sprintf(":cf%d", i)
		names["#cfs"], names[n], vals[v] = "custom_fields", ff.Key, &types.AttributeValueMemberS{Value: ff.Value}
		if ff.Multi {
			// A substring match here; the exact option match is below.
			filters = append(filters, "contains(#cfs."+n+", "+v+")")
		} else {
			filters = append(filters, "#cfs."+n+" = "+v)
		}
	}
	if f.Query != "" {
		or := []string{"contains(#sname, :qname)", "begins_with(#email, :q)"}
		names["#sname"], names["#email"] = "search_name", "email"
		vals[":qname"], vals[":q"] = &types.AttributeValueMemberS{Value: " " + f.Query}, &types.AttributeValueMemberS{Value: f.Query}
		if f.QueryPhone != "" {
			or = append(or, "contains(#phone, :qphone)")
			names["#phone"] = "phone"
			vals[":qphone"] = &types.AttributeValueMemberS{Value: f.QueryPhone}
		}
		filters = append(filters, "("+strings.Join(or, " OR ")+")")
	}
	if f.SourceID != "" {
		// Either ad id: a filter on the chosen access path (docs/crm.md,
		// Attribution), no index of its own.
		filters = append(filters, "(#attr.#sid = :sid OR #prov.#adid = :sid)")
		names["#attr"], names["#sid"], names["#prov"], names["#adid"] = "attribution", "source_id", "provenance", "ad_id"
		vals[":sid"] = &types.AttributeValueMemberS{Value: f.SourceID}
	}
	if f.Source != "" {
		filters = append(filters, "#source = :source")
		names["#source"], vals[":source"] = "source", &types.AttributeValueMemberS{Value: f.Source}
	}
	in := &dynamodb.QueryInput{
		TableName: &s.table, IndexName: index, ScanIndexForward: aws.Bool(false),
		KeyConditionExpression: aws.String(keyCond), ExpressionAttributeValues: vals,
		ExclusiveStartKey: encodeKey(from),
	}
	if len(filters) > 0 {
		in.FilterExpression = aws.String(strings.Join(filters, " AND "))
		if len(names) > 0 {
			in.ExpressionAttributeNames = names
		}
	}
	var res lead.Page
	for range maxListPages {
		// Ask for one more than needed to know whether a next page exists
		// without a second round trip in the common, unfiltered case.
		in.Limit = aws.Int32(pageLimit(limit - len(res.Items) + 1))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return lead.Page{}, fmt.Errorf("list leads of %s: %w", orgID, err)
		}
		for _, item := range out.Items {
			if len(res.Items) == limit {
				// There is at least one more: resume after the last returned.
				last := res.Items[len(res.Items)-1]
				res.Next = positionOf(last, index)
				return res, nil
			}
			var it leadItem
			if err := unmarshal(item, &it); err != nil {
				return lead.Page{}, err
			}
			if !multiMatch(it.CustomFields, f.CustomFields) {
				continue
			}
			res.Items = append(res.Items, it.lead())
		}
		if out.LastEvaluatedKey == nil {
			return res, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
		if len(res.Items) == limit {
			res.Next = decodeKey(out.LastEvaluatedKey)
			return res, nil
		}
	}
	res.Next = decodeKey(in.ExclusiveStartKey)
	return res, nil
}

// multiMatch reports whether a lead's multi-select values include each
// option a filter asks for (the filter expression only matched a
// substring).
func multiMatch(cf map[string]string, fs []lead.FieldFilter) bool {
	for _, ff := range fs {
		if ff.Multi && !slices.Contains(strings.Split(cf[ff.Key], ","), ff.Value) {
			return false
		}
	}
	return true
}

// searchName is a name as the search reads it: lower-cased words after a
// space each.
func searchName(name string) string {
	if strings.TrimSpace(name) == "" {
		return ""
	}
	return " " + strings.ToLower(strings.Join(strings.Fields(name), " "))
}

// positionOf is the position (ExclusiveStartKey) that resumes a listing
// after l.
func positionOf(l lead.Lead, index *string) page.Cursor {
	it := toLeadItem(l)
	k := map[string]string{attrPK: it.PK, attrSK: it.SK}
	switch aws.ToString(index) {
	case indexGSI1:
		k[attrGSI1PK], k[attrGSI1SK] = it.GSI1PK, it.GSI1SK
	case indexGSI2:
		k[attrGSI2PK], k[attrGSI2SK] = it.GSI2PK, it.GSI2SK
	case indexGSI3:
		k[attrGSI3PK], k[attrGSI3SK] = it.GSI3PK, it.GSI3SK
	}
	return page.NewCursor(k)
}

// LeadConsent returns a lead's current consent alone: one read of the lead
// item, projected, without the conversation summary GetLead also reads.
func (s *Store) LeadConsent(ctx context.Context, orgID, leadID string) (map[string]string, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), leadSK(leadID)), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("PK, consent, #ttl"), ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
	})
	if err != nil {
		return nil, fmt.Errorf("read the consent of lead %s: %w", leadID, err)
	}
	if out.Item == nil || expired(out.Item, s.now()) {
		return nil, lead.ErrNotFound
	}
	var it leadItem
	if err := unmarshal(out.Item, &it); err != nil {
		return nil, err
	}
	return it.Consent, nil
}

// LeadIDByPhone returns the id of the org's lead with this E.164 phone.
func (s *Store) LeadIDByPhone(ctx context.Context, orgID, e164 string) (string, error) {
	return s.leadIDByGuard(ctx, orgID, leadPhoneSK(e164))
}

// LeadIDByEmail returns the id of the org's lead with this email.
func (s *Store) LeadIDByEmail(ctx context.Context, orgID, email string) (string, error) {
	return s.leadIDByGuard(ctx, orgID, leadEmailSK(email))
}

func (s *Store) leadIDByGuard(ctx context.Context, orgID, sk string) (string, error) {
	var g guardItem
	ok, err := s.get(ctx, orgPK(orgID), sk, &g)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", lead.ErrNotFound
	}
	return g.LeadID, nil
}

// TouchLastInbound moves a lead's last_inbound_at forward (the start of
// WhatsApp's 24-hour customer-service window).
func (s *Store) TouchLastInbound(ctx context.Context, orgID, leadID string, at time.Time) error {
	v := at.UTC().Format(time.RFC3339Nano)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), leadSK(leadID)),
		UpdateExpression:    aws.String("SET last_inbound_at = :at ADD version :one"),
		ConditionExpression: aws.String("attribute_exists(PK) AND (attribute_not_exists(last_inbound_at) OR last_inbound_at < :at)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": &types.AttributeValueMemberS{Value: v}, ":one": &types.AttributeValueMemberN{Value: "1"},
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("touch last inbound: %w", err)
	}
	return nil
}

type activityItem struct {
	PK      string            `dynamodbav:"PK"`
	SK      string            `dynamodbav:"SK"`
	Type    string            `dynamodbav:"type"`
	OrgID   string            `dynamodbav:"org_id"`
	LeadID  string            `dynamodbav:"lead_id"`
	Kind    string            `dynamodbav:"kind"`
	At      time.Time         `dynamodbav:"at"`
	ActorID string            `dynamodbav:"actor_id,omitempty"`
	Details map[string]string `dynamodbav:"details,omitempty"`
	Changes []changeAttr      `dynamodbav:"changes,omitempty"`
	// FromMeta marks content received from Meta, for purges on disconnect.
	FromMeta bool `dynamodbav:"from_meta"`
}

// changeAttr is one field's change in an activity.
type changeAttr struct {
	Field       string   `dynamodbav:"field"`
	Old         string   `dynamodbav:"old,omitempty"`
	New         string   `dynamodbav:"new,omitempty"`
	Added       []string `dynamodbav:"added,omitempty"`
	Removed     []string `dynamodbav:"removed,omitempty"`
	OldFromMeta bool     `dynamodbav:"old_from_meta,omitempty"`
	// OldCorrected: lead.Change.OldCorrected.
	OldCorrected bool `dynamodbav:"old_corrected,omitempty"`
	// Scrubbed: lead.Change.Scrubbed.
	Scrubbed bool `dynamodbav:"scrubbed,omitempty"`
}

// Activities returns a lead's activities in time order.
func (s *Store) Activities(ctx context.Context, orgID, leadID string) ([]lead.Activity, error) {
	items, err := s.queryPrefix(ctx, leadPartPK(orgID, leadID), prefixActivity)
	if err != nil {
		return nil, err
	}
	out := make([]lead.Activity, 0, len(items))
	for _, item := range items {
		var it activityItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.activity())
	}
	return out, nil
}

// historyPage reads up to limit items of a lead's history partition whose
// sort key starts with prefix, newest first, after the position from, and
// the position after the last one (zero when there is none): one Query
// for one more item than asked, to know.
func (s *Store) historyPage(ctx context.Context, pk, prefix string, limit int, from page.Cursor) ([]map[string]types.AttributeValue, page.Cursor, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: pk}, ":p": &types.AttributeValueMemberS{Value: prefix},
		},
		ScanIndexForward: aws.Bool(false), Limit: aws.Int32(pageLimit(limit + 1)), ExclusiveStartKey: encodeKey(from),
	})
	if err != nil {
		return nil, page.Cursor{}, fmt.Errorf("query %s %s: %w", pk, prefix, err)
	}
	items := out.Items
	if len(items) <= limit {
		return items, page.Cursor{}, nil
	}
	items = items[:limit]
	last := items[len(items)-1]
	return items, decodeKey(map[string]types.AttributeValue{attrPK: last[attrPK], attrSK: last[attrSK]}), nil
}

func (it activityItem) activity() lead.Activity {
	a := lead.Activity{ID: it.SK[len(prefixActivity):], OrgID: it.OrgID, LeadID: it.LeadID, Kind: it.Kind, At: it.At,
		ActorID: it.ActorID, Details: it.Details, FromMeta: it.FromMeta}
	for _, c := range it.Changes {
		a.Changes = append(a.Changes, lead.Change{Field: c.Field, Old: c.Old, New: c.New, Added: c.Added, Removed: c.Removed, OldFromMeta: c.OldFromMeta,
			OldCorrected: c.OldCorrected, Scrubbed: c.Scrubbed})
	}
	return a
}

func toActivityItem(a lead.Activity) activityItem {
	it := activityItem{PK: leadPartPK(a.OrgID, a.LeadID), SK: activitySK(a.ID), Type: "activity", OrgID: a.OrgID, LeadID: a.LeadID,
		Kind: a.Kind, At: a.At, ActorID: a.ActorID, Details: a.Details, FromMeta: a.FromMeta}
	for _, c := range a.Changes {
		it.Changes = append(it.Changes, changeAttr{Field: c.Field, Old: c.Old, New: c.New, Added: c.Added, Removed: c.Removed, OldFromMeta: c.OldFromMeta,
			OldCorrected: c.OldCorrected, Scrubbed: c.Scrubbed})
	}
	return it
}

// firstActivities are a new lead's first activities: created, and the
// assigned activity that names the assignee a rule picked.
func firstActivities(l lead.Lead, created lead.Activity) []lead.Activity {
	acts := []lead.Activity{created}
	if l.AssignedBy != "" && l.AssigneeID != "" {
		acts = append(acts, lead.RuleAssignedActivity(l, created.ID))
	}
	return acts
}

// activityPut is the write of an activity, in the transaction of the
// change it records.
func (s *Store) activityPut(a lead.Activity) (types.TransactWriteItem, error) {
	av, err := marshal(toActivityItem(a))
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")}}, nil
}

// canonEmailItem files a lead under the canonical form of one of its
// emails (lead.CanonicalEmail), when the email is not in that form, so
// that the canonical side finds it (GET /v1/leads/{id}/duplicates).
type canonEmailItem struct {
	PK     string `dynamodbav:"PK"`
	SK     string `dynamodbav:"SK"`
	Type   string `dynamodbav:"type"`
	LeadID string `dynamodbav:"lead_id"`
}

// canonEmails lists the canonical forms of a lead's emails (primary and
// secondary) that differ from the email, once each, sorted.
func canonEmails(l lead.Lead) []string {
	var out []string
	for _, e := range append([]string{l.Email}, l.Emails...) {
		if c := lead.CanonicalEmail(e); e != "" && c != e && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// canonWrites moves a lead's canonical email entries from those of
// before to those of after (nil for none).
func (s *Store) canonWrites(orgID, leadID string, before, after []string) ([]types.TransactWriteItem, error) {
	var items []types.TransactWriteItem
	for _, c := range before {
		if !slices.Contains(after, c) {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: key(orgPK(orgID), canonEmailSK(c, leadID))}})
		}
	}
	for _, c := range after {
		if slices.Contains(before, c) {
			continue
		}
		av, err := marshal(canonEmailItem{PK: orgPK(orgID), SK: canonEmailSK(c, leadID), Type: "lead_email_canonical", LeadID: leadID})
		if err != nil {
			return nil, err
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: av}})
	}
	return items, nil
}

// LeadIDsByCanonicalEmail returns the ids of the org's leads with an email
// whose canonical form is canonical and differs from it (one Query).
func (s *Store) LeadIDsByCanonicalEmail(ctx context.Context, orgID, canonical string) ([]string, error) {
	items, err := s.queryPrefix(ctx, orgPK(orgID), canonEmailPrefix(canonical))
	if err != nil {
		return nil, fmt.Errorf("find leads by canonical email: %w", err)
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		var it canonEmailItem
		if err := unmarshal(item, &it); err != nil {
			return nil, err
		}
		out = append(out, it.LeadID)
	}
	return out, nil
}
