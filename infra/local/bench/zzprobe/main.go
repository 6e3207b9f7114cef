package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/leadluence/backend/infra/provision"
	"github.com/leadluence/backend/infra/topology"
)

func main() {
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil { panic(err) }
	res, err := provision.Apply(ctx, cfg, topology.Default(), "probe2-")
	if err != nil { panic(err) }
	db := dynamodb.NewFromConfig(cfg)
	big := strings.Repeat("x", 3000)
	out, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &res.TableName, ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes,
		Item: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "a"}, "SK": &types.AttributeValueMemberS{Value: "b"}, "GSI1PK": &types.AttributeValueMemberS{Value: "g"}, "GSI1SK": &types.AttributeValueMemberS{Value: "g"}, "x": &types.AttributeValueMemberS{Value: big}}})
	if err != nil { panic(err) }
	fmt.Printf("put: %+v\n", out.ConsumedCapacity)
	if out.ConsumedCapacity != nil { fmt.Println(aws.ToFloat64(out.ConsumedCapacity.CapacityUnits), aws.ToFloat64(out.ConsumedCapacity.WriteCapacityUnits)); fmt.Printf("%+v %+v\n", out.ConsumedCapacity.Table, out.ConsumedCapacity.GlobalSecondaryIndexes) }
	tw, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ReturnConsumedCapacity: types.ReturnConsumedCapacityIndexes, TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &res.TableName, Item: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "a"}, "SK": &types.AttributeValueMemberS{Value: "c"}, "GSI1PK": &types.AttributeValueMemberS{Value: "g"}, "GSI1SK": &types.AttributeValueMemberS{Value: "g"}, "x": &types.AttributeValueMemberS{Value: big}}}},
		{Put: &types.Put{TableName: &res.TableName, Item: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "a"}, "SK": &types.AttributeValueMemberS{Value: "d"}}}},
	}})
	if err != nil { panic(err) }
	fmt.Printf("tw: %+v\n", tw.ConsumedCapacity)
	for _, c := range tw.ConsumedCapacity { fmt.Println(aws.ToString(c.TableName), aws.ToFloat64(c.CapacityUnits), aws.ToFloat64(c.WriteCapacityUnits)); if c.Table != nil {fmt.Println("table", aws.ToFloat64(c.Table.CapacityUnits))}; for k, g := range c.GlobalSecondaryIndexes { fmt.Println(k, aws.ToFloat64(g.CapacityUnits)) } }
	g, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &res.TableName, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal, Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "a"}, "SK": &types.AttributeValueMemberS{Value: "b"}}})
	if err != nil { panic(err) }
	fmt.Printf("get: %+v\n", g.ConsumedCapacity)
	if g.ConsumedCapacity != nil { fmt.Println(aws.ToFloat64(g.ConsumedCapacity.CapacityUnits)) }
	u, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &res.TableName, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal, Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "a"}, "SK": &types.AttributeValueMemberS{Value: "b"}},
		UpdateExpression: aws.String("SET y = :y"), ExpressionAttributeValues: map[string]types.AttributeValue{":y": &types.AttributeValueMemberS{Value: "1"}}})
	if err != nil { panic(err) }
	if u.ConsumedCapacity != nil { fmt.Println("update", aws.ToFloat64(u.ConsumedCapacity.CapacityUnits)) } else { fmt.Println("update nil") }
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &res.TableName, ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal, ConditionExpression: aws.String("attribute_not_exists(PK)"),
		Item: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "a"}, "SK": &types.AttributeValueMemberS{Value: "b"}}})
	fmt.Printf("cond fail err: %v\n", err)
}
