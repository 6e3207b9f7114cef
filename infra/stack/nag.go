package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
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

// Findings returns every unsuppressed AwsSolutions error or warning that
// cdk-nag attached to scope or its children, as "<construct path>: <message>".
// Call it after synthesis (app.Synth), when the checks have run. cdk-nag only
// annotates; the caller decides to fail.
func Findings(scope constructs.IConstruct) []string {
	var out []string
	for _, c := range *scope.Node().FindAll(constructs.ConstructOrder_PREORDER) {
		for _, md := range *c.Node().Metadata() {
			if md.Type == nil || (*md.Type != annotationError && *md.Type != annotationWarning) {
				continue
			}
			text := fmt.Sprint(md.Data)
			if !strings.HasPrefix(text, NagPrefix) {
				continue
			}
			if i := strings.IndexByte(text, '\n'); i >= 0 {
				text = text[:i]
			}
			out = append(out, fmt.Sprintf("%s: %s", *c.Node().Path(), text))
		}
	}
	return out
}

// Metadata types of error and warning annotations (Annotations.addError,
// Annotations.addWarningV2), as cdk-nag records its findings.
const (
	annotationError   = "aws:cdk:error"
	annotationWarning = "aws:cdk:warning"
)

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
