// Package stack turns the deployment described by infra/topology into one
// CDK stack: the KMS key, the DynamoDB table, the SQS queues with their
// dead-letter queues and alarms, one Lambda function per topology function
// with least-privilege grants, the HTTP API and the EventBridge schedules.
//
// Nothing here names a function, route, queue or index: every resource is
// generated from the topology value, so adding a function to topology.Default
// is enough to deploy it. cdk-nag suppressions are attached next to the
// construct they concern, each with its reason; Nag adds the AwsSolutions
// checks and Findings reads what they reported after synthesis.
package stack

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/leadluence/backend/infra/topology"
)

// Props configures New.
type Props struct {
	awscdk.StackProps
	// Topology is the deployment to build, normally topology.Default().
	Topology topology.Stack
	// AssetDir returns the folder holding the function's `bootstrap`
	// executable. When nil, DefaultAssetDir is used.
	AssetDir func(fn topology.Function) string
}

// DefaultAssetDir is where `make build` leaves a function's bootstrap:
// bin/<name>, relative to the repository root (the folder cdk runs in).
func DefaultAssetDir(fn topology.Function) string {
	return filepath.Join("bin", fn.Name)
}

// New builds the stack described by props.Topology.
//
// Like the CDK constructs it is made of, New panics on invalid input: call
// Validate first to get the problems as an error.
func New(scope constructs.Construct, id string, props *Props) awscdk.Stack {
	if props == nil {
		props = &Props{}
	}
	topo := props.Topology
	if err := Validate(topo); err != nil {
		panic(fmt.Errorf("stack %s: %w", id, err))
	}
	assetDir := props.AssetDir
	if assetDir == nil {
		assetDir = DefaultAssetDir
	}

	sprops := props.StackProps
	if sprops.StackName == nil && topo.Name != "" {
		sprops.StackName = jsii.String(topo.Name)
	}
	if sprops.Description == nil {
		sprops.Description = jsii.String(topo.Name + " serverless backend, generated from infra/topology")
	}
	s := awscdk.NewStack(scope, jsii.String(id), &sprops)

	key := newKey(s, topo.Key)
	table := newTable(s, topo.Table, key)
	queues := newQueues(s, topo.Queues)
	for _, q := range topo.Queues {
		newDLQAlarm(s, q, queues[q.Name].dlq)
	}

	resolved := topology.Resolved{
		TableName: *table.TableName(),
		KeyID:     *key.KeyArn(),
		QueueURLs: map[string]string{},
	}
	for _, q := range topo.Queues {
		resolved.QueueURLs[q.Name] = *queues[q.Name].queue.QueueUrl()
		resolved.QueueURLs[q.DLQName()] = *queues[q.Name].dlq.QueueUrl()
	}
	if ee := topo.EmailEvents; ee != nil {
		resolved.ConfigurationSet = *newEmailEvents(s, *ee, queues[ee.Queue].queue)
	}
	params := map[string]*string{}
	if topo.SendsOrVerifiesEmail() {
		// Deployed functions must never send from the local default
		// address: the deployment names its own.
		resolved.EmailFrom = *paramValue(s, topology.EmailFromParam, params)
	}

	res := resources{topo: topo, table: table, key: key, queues: queues, resolved: resolved, params: params}
	fns := make(map[string]function, len(topo.Functions))
	for _, fn := range topo.Functions {
		f := newFunction(s, fn, assetDir(fn), res)
		grantAccess(s, f, fn, res)
		if fn.Consumes != nil {
			addQueueTrigger(f, *fn.Consumes, queues[fn.Consumes.Queue].queue)
		}
		newSchedules(f, fn)
		fns[fn.Name] = f
	}

	if len(topo.Routes()) > 0 {
		api := newHTTPAPI(s, topo, fns)
		awscdk.NewCfnOutput(s, jsii.String("ApiUrl"), &awscdk.CfnOutputProps{
			Description: jsii.String("Base URL of the HTTP API"),
			Value:       api.url,
		})
	}
	awscdk.NewCfnOutput(s, jsii.String("TableName"), &awscdk.CfnOutputProps{
		Description: jsii.String("Name of the single DynamoDB table"),
		Value:       table.TableName(),
	})
	return s
}

// pascal turns a topology name such as "dsr-export" into "DsrExport", for
// construct ids.
func pascal(name string) string {
	var b strings.Builder
	upper := true
	for _, r := range name {
		switch {
		case r == '-' || r == '_' || r == ' ' || r == '.':
			upper = true
		case upper:
			b.WriteString(strings.ToUpper(string(r)))
			upper = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// seconds converts a whole-second time.Duration into a CDK duration.
func seconds(d time.Duration) awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(d.Seconds()))
}
