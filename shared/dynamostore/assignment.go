package dynamostore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/lead"
)

// An org's lead assignment rule is one item in its partition,
// ORG#o / ASSIGNMENT_RULE: the rule, its turn counter (turn, advanced by
// one atomic UpdateItem per assigned lead) and the turns taken for intake
// events whose lead is not written yet (tickets, by the SHA-256 of the
// event key), so that a redelivered event reuses its turn.

var _ lead.RuleStore = (*Store)(nil)

type assignmentRuleItem struct {
	PK            string    `dynamodbav:"PK"`
	SK            string    `dynamodbav:"SK"`
	Type          string    `dynamodbav:"type"`
	OrgID         string    `dynamodbav:"org_id"`
	RuleType      string    `dynamodbav:"rule_type"`
	UserIDs       []string  `dynamodbav:"user_ids"`
	OnlyAvailable bool      `dynamodbav:"only_available"`
	UpdatedAt     time.Time `dynamodbav:"updated_at"`
	UpdatedBy     string    `dynamodbav:"updated_by,omitempty"`
	// Turn is the last turn taken (0: none yet).
	Turn int64 `dynamodbav:"turn"`
	// Tickets are turns taken for intake events still being applied.
	Tickets map[string]int64 `dynamodbav:"tickets"`
}

// AssignmentRule returns an org's assignment rule; an org that never set
// one has the zero rule (none).
func (s *Store) AssignmentRule(ctx context.Context, orgID string) (lead.AssignmentRule, error) {
	var it assignmentRuleItem
	ok, err := s.get(ctx, orgPK(orgID), skAssignmentRule, &it)
	if err != nil || !ok {
		return lead.AssignmentRule{Type: lead.RuleNone}, err
	}
	return lead.AssignmentRule{Type: it.RuleType, UserIDs: it.UserIDs, OnlyAvailable: it.OnlyAvailable, UpdatedAt: it.UpdatedAt,
		UpdatedBy: it.UpdatedBy}, nil
}

// PutAssignmentRule replaces an org's rule, keeping its turn counter and
// tickets (one UpdateItem, so a turn taken meanwhile is not lost).
func (s *Store) PutAssignmentRule(ctx context.Context, orgID string, r lead.AssignmentRule) error {
	ids := r.UserIDs
	if ids == nil {
		ids = []string{}
	}
	av, err := marshal(assignmentRuleItem{RuleType: r.Type, UserIDs: ids, OnlyAvailable: r.OnlyAvailable, UpdatedAt: r.UpdatedAt.UTC(),
		UpdatedBy: r.UpdatedBy, Tickets: map[string]int64{}})
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), skAssignmentRule),
		UpdateExpression: aws.String("SET #type = :type, org_id = :org, rule_type = :rt, user_ids = :ids, only_available = :oa, " +
			"updated_at = :at, updated_by = :by, turn = if_not_exists(turn, :zero), tickets = if_not_exists(tickets, :empty)"),
		ExpressionAttributeNames: map[string]string{"#type": "type"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":type": &types.AttributeValueMemberS{Value: "assignment_rule"}, ":org": &types.AttributeValueMemberS{Value: orgID},
			":rt": av["rule_type"], ":ids": av["user_ids"], ":oa": av["only_available"], ":at": av["updated_at"],
			":by": &types.AttributeValueMemberS{Value: r.UpdatedBy}, ":zero": &types.AttributeValueMemberN{Value: "0"},
			":empty": av["tickets"],
		},
	})
	if err != nil {
		return fmt.Errorf("put assignment rule of %s: %w", orgID, err)
	}
	return nil
}

// ticketName is the tickets entry of an intake event key: its SHA-256, so
// the item holds no Meta id.
func ticketName(eventKey string) string {
	h := sha256.Sum256([]byte(eventKey))
	return hex.EncodeToString(h[:16])
}

// TakeTurn advances the org's turn counter with one atomic UpdateItem
// (ADD turn 1, returning the new value): concurrent callers each get a
// turn of their own. With a key, the turn is also remembered in tickets
// under the key's hash, on condition that none is there; when one is (the
// event came again before its lead was written), that turn is returned
// and the counter does not move.
func (s *Store) TakeTurn(ctx context.Context, orgID, eventKey string) (int64, error) {
	in := &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), skAssignmentRule),
		UpdateExpression:          aws.String("ADD turn :one"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
		ReturnValues:              types.ReturnValueUpdatedNew,
	}
	name := ""
	if eventKey != "" {
		name = ticketName(eventKey)
		// The ticket takes the turn this ADD makes: the old value plus one
		// (an update expression reads the values before the update).
		in.UpdateExpression = aws.String("SET tickets.#k = turn + :one ADD turn :one")
		in.ConditionExpression = aws.String("attribute_exists(PK) AND attribute_not_exists(tickets.#k)")
		in.ExpressionAttributeNames = map[string]string{"#k": name}
		in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	out, err := s.db.UpdateItem(ctx, in)
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if name != "" && errors.As(err, &ccf) && ccf.Item != nil {
			var it assignmentRuleItem
			if err := unmarshal(ccf.Item, &it); err != nil {
				return 0, err
			}
			if t, ok := it.Tickets[name]; ok {
				return t, nil
			}
		}
		return 0, fmt.Errorf("take assignment turn of %s: %w", orgID, err)
	}
	n, ok := out.Attributes["turn"].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("take assignment turn of %s: no turn returned", orgID)
	}
	turn, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("take assignment turn of %s: %w", orgID, err)
	}
	return turn, nil
}

// ForgetTurn removes the ticket of an intake event key.
func (s *Store) ForgetTurn(ctx context.Context, orgID, eventKey string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), skAssignmentRule),
		UpdateExpression:         aws.String("REMOVE tickets.#k"),
		ConditionExpression:      aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames: map[string]string{"#k": ticketName(eventKey)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("forget assignment turn of %s: %w", orgID, err)
	}
	return nil
}

// SetUserAvailable sets whether a user takes leads of an assignment rule
// with only_available (one UpdateItem of that attribute alone, so it
// races no other change of the user) and returns the user.
func (s *Store) SetUserAvailable(ctx context.Context, orgID, userID string, available bool) (account.User, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: key(orgPK(orgID), userSK(userID)),
		UpdateExpression:          aws.String("SET unavailable = :u"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberBOOL{Value: !available}},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return account.User{}, account.ErrNotFound
	}
	if err != nil {
		return account.User{}, fmt.Errorf("set availability of user %s: %w", userID, err)
	}
	var it userItem
	if err := unmarshal(out.Attributes, &it); err != nil {
		return account.User{}, err
	}
	return it.user(), nil
}
