package dynamostore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
)

// An org's settings (PATCH /v1/org) live on its org item (accounts.go):
// name, default_region, timezone, business_hours and updated_at.

// timeRangeItem is one opening range of business_hours.
type timeRangeItem struct {
	Start string `dynamodbav:"start"`
	End   string `dynamodbav:"end"`
}

func toHoursItem(h account.BusinessHours) map[string][]timeRangeItem {
	if h == nil {
		return nil
	}
	out := make(map[string][]timeRangeItem, len(h))
	for day, ranges := range h {
		for _, r := range ranges {
			out[day] = append(out[day], timeRangeItem{Start: r.Start, End: r.End})
		}
	}
	return out
}

func fromHoursItem(h map[string][]timeRangeItem) account.BusinessHours {
	if h == nil {
		return nil
	}
	out := make(account.BusinessHours, len(h))
	for day, ranges := range h {
		for _, r := range ranges {
			out[day] = append(out[day], account.TimeRange{Start: r.Start, End: r.End})
		}
	}
	return out
}

// UpdateOrgSettings sets the org settings the patch names (nil fields
// stay, so concurrent changes of different settings both last) and
// updated_at, in one conditional UpdateItem, and returns the org as
// written. The patch's values must be valid and clean
// (account.OrgSettingsPatch.Apply). account.ErrNotFound when there is no
// such org.
func (s *Store) UpdateOrgSettings(ctx context.Context, orgID string, p account.OrgSettingsPatch, at time.Time) (account.Org, error) {
	sets := []string{"updated_at = :at"}
	vals := map[string]any{":at": at.UTC()}
	names := map[string]string{}
	add := func(attr, ph string, v any) {
		names["#"+ph] = attr
		sets = append(sets, "#"+ph+" = :"+ph)
		vals[":"+ph] = v
	}
	if p.Name != nil {
		add("name", "name", *p.Name)
	}
	if p.Timezone != nil {
		add("timezone", "tz", *p.Timezone)
	}
	if p.DefaultCountry != nil {
		add("default_region", "region", *p.DefaultCountry)
	}
	if p.BusinessHours != nil {
		h := toHoursItem(*p.BusinessHours)
		if h == nil {
			h = map[string][]timeRangeItem{}
		}
		add("business_hours", "hours", h)
	}
	av, err := attributevalue.MarshalMap(vals)
	if err != nil {
		return account.Org{}, fmt.Errorf("encode org settings: %w", err)
	}
	in := &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), skOrg),
		UpdateExpression:          aws.String("SET " + strings.Join(sets, ", ")),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: av,
		ReturnValues:              types.ReturnValueAllNew,
	}
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	out, err := s.db.UpdateItem(ctx, in)
	if isConditionFailed(err) {
		return account.Org{}, account.ErrNotFound
	}
	if err != nil {
		return account.Org{}, fmt.Errorf("update settings of org %s: %w", orgID, err)
	}
	var it orgItem
	if err := attributevalue.UnmarshalMap(out.Attributes, &it); err != nil {
		return account.Org{}, fmt.Errorf("decode org %s: %w", orgID, err)
	}
	return it.org(), nil
}
