package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/jsii-runtime-go"

	"github.com/leadluence/backend/infra/topology"
)

// newSchedules creates one EventBridge rule per topology schedule of fn,
// invoking the function at rate(Every) with the standard "Scheduled Event"
// payload whose detail names the schedule ({"schedule": Name}), so a
// function with several schedules tells them apart. EventBridge only
// accepts minutes, hours or days: Validate makes sure Every is whole
// minutes.
func newSchedules(f function, fn topology.Function) []awsevents.Rule {
	rules := make([]awsevents.Rule, 0, len(fn.Schedules))
	for _, sch := range fn.Schedules {
		rule := awsevents.NewRule(f.scope, jsii.String("Schedule"+pascal(sch.Name)), &awsevents.RuleProps{
			Description: jsii.String(fn.Name + " " + sch.Name + " every " + sch.Every.String()),
			Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(sch.Every.Minutes()))),
		})
		rule.AddTarget(awseventstargets.NewLambdaFunction(f.handler, &awseventstargets.LambdaFunctionProps{
			Event: awsevents.RuleTargetInput_FromObject(map[string]any{
				"version": "0", "id": awsevents.EventField_EventId(), "detail-type": awsevents.EventField_DetailType(),
				"source": awsevents.EventField_Source(), "account": awsevents.EventField_Account(), "time": awsevents.EventField_Time(),
				"region": awsevents.EventField_Region(), "resources": awsevents.EventField_FromPath(jsii.String("$.resources")),
				"detail": map[string]any{"schedule": sch.Name},
			}),
		}))
		rules = append(rules, rule)
	}
	return rules
}
