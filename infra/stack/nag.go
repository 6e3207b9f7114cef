package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// NagPrefix starts every finding of the AwsSolutions rule pack.
const NagPrefix = "AwsSolutions-"

// Nag adds the cdk-nag AwsSolutions checks to scope (normally the app). The
// stack's suppressions are attached by New next to the constructs they
// concern, so any app built with New and Nag, the real one or a test's, gets
// the same findings.
func Nag(scope constructs.Construct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{
		Verbose: jsii.Bool(true),
	}), nil)
}

// Findings returns every unsuppressed AwsSolutions error or warning recorded
// in the synthesized assembly, as "<construct path>: <message>". cdk-nag only
// annotates; the caller decides to fail.
func Findings(assembly cxapi.CloudAssembly) []string {
	var out []string
	for _, st := range *assembly.Stacks() {
		for _, m := range *st.Messages() {
			if m.Level != cxapi.SynthesisMessageLevel_ERROR && m.Level != cxapi.SynthesisMessageLevel_WARNING {
				continue
			}
			text := fmt.Sprint(m.Entry.Data)
			if !strings.HasPrefix(text, NagPrefix) {
				continue
			}
			if i := strings.IndexByte(text, '\n'); i >= 0 {
				text = text[:i]
			}
			out = append(out, fmt.Sprintf("%s: %s", *m.Id, text))
		}
	}
	return out
}

// suppress records a cdk-nag suppression of rule on c and its children, with
// the reason it is acceptable. appliesTo, when given, narrows it to those
// findings (e.g. "Resource::*") so a new, different finding still fails.
func suppress(c constructs.IConstruct, rule, reason string, appliesTo ...string) {
	sup := &cdknag.NagPackSuppression{Id: jsii.String(rule), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		list := make([]any, len(appliesTo))
		for i, a := range appliesTo {
			list[i] = a
		}
		sup.AppliesTo = &list
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{sup}, jsii.Bool(true))
}
