package stack

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/leadluence/backend/infra/topology"
)

// LogRetention is how long function and access logs are kept.
const LogRetention = awslogs.RetentionDays_ONE_MONTH

// Action sets behind the topology's Access flags. The table sets mirror
// CDK's grantReadData/grantWriteData without the stream actions (the table
// has no stream); the key sets are the ones those grants add for a table
// encrypted with a customer-managed key, written out instead of the
// kms:ReEncrypt*/kms:GenerateDataKey* wildcards.
var (
	tableReadActions  = []string{"dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"}
	tableWriteActions = []string{"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:PutItem", "dynamodb:UpdateItem"}
	tableKeyRead      = []string{"kms:Decrypt", "kms:DescribeKey"}
	tableKeyWrite     = []string{"kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"}
)

// resources are the shared resources functions are granted access to.
type resources struct {
	topo     topology.Stack
	table    awsdynamodb.Table
	key      awskms.Key
	queues   map[string]queuePair
	resolved topology.Resolved
	// params holds the value of each deploy-time parameter by env name, so
	// functions that declare the same one share a CloudFormation parameter.
	params map[string]*string
}

// function is one deployed topology function.
type function struct {
	scope   constructs.Construct
	handler awslambda.Function
	role    awsiam.Role
}

// newFunction creates the function's role, log group and Lambda (Go
// bootstrap on provided.al2023/arm64, JSON logs, active tracing) under one
// construct named after the function.
//
// The role is our own rather than CDK's default so it does not carry the
// AWSLambdaBasicExecutionRole managed policy (logs:* on every log group): it
// may write only to the function's own log group.
func newFunction(s awscdk.Stack, fn topology.Function, assetDir string, res resources) function {
	scope := constructs.NewConstruct(s, jsii.String(pascal(fn.Name)+"Function"))

	logs := awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	role := awsiam.NewRole(scope, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Execution role of the " + fn.Name + " function"),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteOwnLogs"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn()),
	}))

	env := map[string]*string{}
	for k, v := range topology.ResourceEnv(fn, res.resolved) {
		env[k] = jsii.String(v)
	}
	for _, p := range fn.Params {
		env[p.Env] = paramValue(s, p, res.params)
	}
	handler := awslambda.NewFunction(scope, jsii.String("Handler"), &awslambda.FunctionProps{
		Description:   jsii.String(fn.Name + " (" + fn.Dir + ")"),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(assetDir), nil),
		MemorySize:    jsii.Number(float64(fn.MemoryMB)),
		Timeout:       seconds(fn.Timeout),
		Environment:   &env,
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Tracing:       awslambda.Tracing_ACTIVE,
	})
	suppress(role, "AwsSolutions-IAM5",
		"X-Ray tracing (Tracing.ACTIVE) needs xray:PutTraceSegments and xray:PutTelemetryRecords, which support no resource-level permissions, so CDK grants them on Resource *",
		"Resource::*")
	return function{scope: scope, handler: handler, role: role}
}

// grantAccess gives the function exactly what fn.Access lists.
//
// Table access is granted on the table and on each index by name. The table's
// key is granted only through DynamoDB (kms:ViaService), so TableRead does not
// let a function call kms:Decrypt on envelope-encrypted secrets directly:
// direct use of the key comes only from KeyEncrypt, KeyDecrypt and KeyDescribe.
func grantAccess(s awscdk.Stack, f function, fn topology.Function, res resources) {
	a := fn.Access
	if a.TableRead || a.TableWrite {
		var actions, keyActions []string
		if a.TableRead {
			actions = append(actions, tableReadActions...)
			keyActions = append(keyActions, tableKeyRead...)
		}
		if a.TableWrite {
			actions = append(actions, tableWriteActions...)
			keyActions = append(keyActions, tableKeyRead...)
			keyActions = append(keyActions, tableKeyWrite...)
		}
		if len(a.TableActions) > 0 {
			// Only the operations the function's code calls.
			narrowed := actions[:0:0]
			for _, x := range a.TableActions {
				if contains(actions, "dynamodb:"+x) {
					narrowed = append(narrowed, "dynamodb:"+x)
				}
			}
			actions = narrowed
		}
		tableArn := *res.table.TableArn()
		arns := []string{tableArn}
		for _, ix := range res.topo.Table.Indexes {
			arns = append(arns, tableArn+"/index/"+ix.Name)
		}
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("Table"),
			Actions:   jsii.Strings(unique(actions)...),
			Resources: jsii.Strings(arns...),
		}))
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("TableKeyViaDynamoDB"),
			Actions:   jsii.Strings(unique(keyActions)...),
			Resources: jsii.Strings(*res.key.KeyArn()),
			Conditions: &map[string]any{
				"StringEquals": map[string]any{
					"kms:ViaService": "dynamodb." + *s.Region() + "." + *s.UrlSuffix(),
				},
			},
		}))
	}

	// Data keys of orgs only (shared/envelope): an encryption context that
	// names an org, so neither making nor opening a config secret.
	orgBound := &map[string]any{
		"StringLike": map[string]any{"kms:EncryptionContext:" + OrgContextKey: "?*"},
	}
	if a.KeyEncrypt {
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("KeyEncryptForOrgs"),
			Actions:    jsii.Strings("kms:GenerateDataKey"),
			Resources:  jsii.Strings(*res.key.KeyArn()),
			Conditions: orgBound,
		}))
	}
	if a.KeyDecrypt && len(a.KeyDecryptScopes) > 0 {
		// Only data keys sealed for these scopes (the platform's secrets).
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("KeyDecryptForScopes"),
			Actions:   jsii.Strings("kms:Decrypt"),
			Resources: jsii.Strings(*res.key.KeyArn()),
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"kms:EncryptionContext:" + OrgContextKey: unique(a.KeyDecryptScopes)},
			},
		}))
	} else if a.KeyDecrypt {
		if len(a.KeyDecryptPurposes) == 0 {
			f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:        jsii.String("KeyDecryptForOrgs"),
				Actions:    jsii.Strings("kms:Decrypt"),
				Resources:  jsii.Strings(*res.key.KeyArn()),
				Conditions: orgBound,
			}))
		} else {
			// Only ciphertexts made for these purposes (shared/secret):
			// not the org-bound data keys of envelope-encrypted tokens.
			f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("KeyDecryptForPurpose"),
				Actions:   jsii.Strings("kms:Decrypt"),
				Resources: jsii.Strings(*res.key.KeyArn()),
				Conditions: &map[string]any{
					"StringEquals": map[string]any{
						"kms:EncryptionContext:" + PurposeContextKey: unique(a.KeyDecryptPurposes),
					},
				},
			}))
		}
	}
	if a.KeyDescribe {
		res.key.Grant(f.role, jsii.String("kms:DescribeKey"))
	}
	if a.SendEmail {
		identities := awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"), nil)
		resources := []*string{identities}
		if ee := res.topo.EmailEvents; ee != nil {
			// SES authorizes a send on the configuration set it names as
			// well as on the identity.
			resources = append(resources, awscdk.Fn_Sub(jsii.String(
				"arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/"+ee.ConfigurationSet), nil))
		}
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("ses:SendEmail", "ses:SendRawEmail"),
			Resources: &resources,
		}))
		suppress(f.role, "AwsSolutions-IAM5",
			"Clients' sender addresses and domains are verified SES identities added at run time, so sending is allowed on the account's identities (identity/*), in this region only",
			"Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*")
	}
	if a.ManageEmailIdentities {
		// Email-address identities only ("*@*"): the platform's domain
		// identity, which every platform email depends on, is out of reach.
		identities := awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*@*"), nil)
		// The verification email of each claim is a custom verification
		// email template of its own, named with VerificationTemplatePrefix
		// (shared/sesmail), made, sent and deleted at once.
		templates := awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:custom-verification-email-template/"+
			topology.VerificationTemplatePrefix+"*"), nil)
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("EmailIdentities"),
			Actions:   jsii.Strings(emailIdentityActions...),
			Resources: &[]*string{identities},
		}))
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("SenderVerificationTemplates"),
			Actions:   jsii.Strings(verificationTemplateActions...),
			Resources: &[]*string{templates},
		}))
		// SES authorizes the send on the identity and on the template.
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("SenderVerificationEmails"),
			Actions:   jsii.Strings("ses:SendCustomVerificationEmail"),
			Resources: &[]*string{identities, templates},
		}))
		suppress(f.role, "AwsSolutions-IAM5",
			"Orgs' sender addresses become SES identities at run time (PUT /v1/email/sender), so their names cannot be listed in advance: reading, deleting and verifying them (a custom verification email) is allowed on the account's email-address identities (identity/*@*, never a domain identity), in this region only, and on nothing else; which org may touch which address is checked in code (the org's claim)",
			"Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*@*")
		suppress(f.role, "AwsSolutions-IAM5",
			"Each sender address claim has a custom verification email template of its own (naming the org), made, sent and deleted at once, so names are known only at run time: allowed on the templates named "+topology.VerificationTemplatePrefix+"* only",
			"Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:custom-verification-email-template/"+topology.VerificationTemplatePrefix+"*")
	}
	// SendMessage alone: the functions take queue URLs from their
	// environment and never look a queue up (CDK's grantSendMessages adds
	// GetQueueUrl and GetQueueAttributes). The queues are SQS-encrypted,
	// so sending needs no key.
	for _, q := range a.SendTo {
		f.role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("sqs:SendMessage"),
			Resources: jsii.Strings(*res.queue(q).QueueArn()),
		}))
	}
	for _, q := range a.Inspect {
		res.queues[q].queue.Grant(f.role, jsii.String("sqs:GetQueueAttributes"))
	}
}

// emailIdentityActions are what Access.ManageEmailIdentities grants on
// email-address identities alone.
var emailIdentityActions = []string{"ses:GetEmailIdentity", "ses:DeleteEmailIdentity"}

// verificationTemplateActions are what Access.ManageEmailIdentities grants
// on the sender verification templates.
var verificationTemplateActions = []string{"ses:CreateCustomVerificationEmailTemplate", "ses:DeleteCustomVerificationEmailTemplate"}

// PurposeContextKey is the encryption-context key of config secrets
// (shared/secret.ContextKey): a function with Access.KeyDecryptPurposes may
// decrypt only when kms:EncryptionContext:purpose is one of them. It is
// repeated here so the stack does not import the AWS SDK.
const PurposeContextKey = "purpose"

// OrgContextKey is the encryption-context key of the data keys that seal
// an org's tokens (shared/envelope.ContextKey): KeyEncrypt and KeyDecrypt
// without KeyDecryptPurposes allow only contexts that name an org.
const OrgContextKey = "org_id"

// contains reports whether list holds s.
func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParamID is the logical id of the CloudFormation parameter that carries the
// deploy-time parameter env when it is not given as CDK context:
// LEADLUENCE_META_APP_SECRET_CIPHERTEXT becomes
// LeadluenceMetaAppSecretCiphertext.
func ParamID(env string) string {
	return pascal(strings.ToLower(env))
}

// base64Pattern is what a ciphertext parameter must look like.
const base64Pattern = `^[A-Za-z0-9+/]+={0,2}$`

// paramValue is the value of deploy-time parameter p: the CDK context value
// of the same name when there is one (`cdk deploy -c NAME=VALUE`), or else a
// reference to a CloudFormation parameter without a default, so that `cdk
// synth` needs no secrets while a deployment without the value stops at
// CloudFormation's "Parameters: [...] must have values" before any change,
// unless it is given as `cdk deploy --parameters <ParamID>=VALUE` (or the
// deployed stack already has one, which the CDK CLI keeps). A context value
// that is not a non-empty string, or for a ciphertext not base64, panics
// like any other invalid input to New.
func paramValue(s awscdk.Stack, p topology.Param, cache map[string]*string) *string {
	if v, ok := cache[p.Env]; ok {
		return v
	}
	var out *string
	if raw := s.Node().TryGetContext(jsii.String(p.Env)); raw != nil {
		v, ok := raw.(string)
		if !ok || strings.TrimSpace(v) == "" {
			panic(fmt.Errorf("CDK context %s: want a non-empty string, got %v", p.Env, raw))
		}
		v = strings.TrimSpace(v)
		if p.Purpose != "" {
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				panic(fmt.Errorf("CDK context %s: want base64 KMS ciphertext (go run ./tools/encrypt -purpose %s): %w", p.Env, p.Purpose, err))
			}
		}
		out = jsii.String(v)
	} else {
		props := &awscdk.CfnParameterProps{
			Type:        jsii.String("String"),
			Description: jsii.String(p.Env + ": " + p.Description + ". Or pass `cdk deploy -c " + p.Env + "=...`."),
			MinLength:   jsii.Number(1),
		}
		if p.Purpose != "" {
			props.AllowedPattern = jsii.String(base64Pattern)
			props.ConstraintDescription = jsii.String("base64 KMS ciphertext for purpose " + p.Purpose)
			// Ciphertext is safe to show, but it is a secret's stand-in:
			// keep it out of consoles and describe-stacks output.
			props.NoEcho = jsii.Bool(true)
		}
		out = awscdk.NewCfnParameter(s, jsii.String(ParamID(p.Env)), props).ValueAsString()
	}
	cache[p.Env] = out
	return out
}

// addQueueTrigger makes the function the consumer of queue. The event source
// also grants the function what it needs to receive and delete messages
// (queue.grantConsumeMessages). Handlers report partial batch failures, so
// only the failed messages return to the queue.
func addQueueTrigger(f function, t topology.QueueTrigger, queue awssqs.IQueue) {
	props := &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(float64(t.BatchSize)),
		ReportBatchItemFailures: jsii.Bool(true),
	}
	if t.MaxBatchingWindow > 0 {
		props.MaxBatchingWindow = seconds(t.MaxBatchingWindow)
	}
	f.handler.AddEventSource(awslambdaeventsources.NewSqsEventSource(queue, props))
}

// unique returns the strings sorted and without repeats.
func unique(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// queue returns a queue by topology name: a queue's own name, or its
// DLQName() for the dead-letter queue (a consumer that dead-letters a
// message itself, with its reason, sends there).
func (r resources) queue(name string) awssqs.Queue {
	for _, q := range r.topo.Queues {
		switch name {
		case q.Name:
			return r.queues[q.Name].queue
		case q.DLQName():
			return r.queues[q.Name].dlq
		}
	}
	panic("stack: unknown queue " + name)
}
