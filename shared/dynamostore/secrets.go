package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/leadluence/backend/shared/account"
	"github.com/leadluence/backend/shared/auth"
)

// Platform secrets (the token signing key), sealed with the envelope key.

type secretItem struct {
	PK      string    `dynamodbav:"PK"`
	SK      string    `dynamodbav:"SK"`
	Sealed  []byte    `dynamodbav:"sealed"`
	Created time.Time `dynamodbav:"created_at"`
}

// GetSecret returns a sealed platform secret, or account.ErrNotFound.
func (s *Store) GetSecret(ctx context.Context, name string) ([]byte, error) {
	var it secretItem
	ok, err := s.get(ctx, secretPK(name), skSecret, &it)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, account.ErrNotFound
	}
	return it.Sealed, nil
}

// PutSecret stores a sealed platform secret unless one exists already.
func (s *Store) PutSecret(ctx context.Context, name string, sealed []byte) error {
	av, err := marshal(secretItem{PK: secretPK(name), SK: skSecret, Sealed: sealed, Created: s.now()})
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: av, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if isConditionFailed(err) {
		return auth.ErrSecretExists
	}
	if err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	return nil
}
