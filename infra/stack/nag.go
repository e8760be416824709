package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// suppress records one cdk-nag finding as accepted on exactly c (and its children, which
// is where L2 constructs keep their CloudFormation resources), optionally narrowed to the
// findings' "appliesTo" strings (e.g. "Resource::<Bucket.Arn>/logs/*"). The reason is
// kept in the template's metadata so a reviewer sees why, next to the resource.
func suppress(c constructs.IConstruct, id, reason string, appliesTo ...string) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		a := make([]any, len(appliesTo))
		for i, v := range appliesTo {
			a[i] = v
		}
		s.AppliesTo = &a
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// AddNagChecks runs the AwsSolutions rule pack over scope at synth; findings become error
// annotations, which fail `cdk synth` and the infra tests.
func AddNagChecks(scope constructs.IConstruct) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// tok renders a CloudFormation token the way cdk-nag prints it inside appliesTo strings:
// "<LogicalId.Attr>" for a GetAtt and "<LogicalId>" for a Ref.
func getAttTok(stack awscdk.Stack, res awscdk.CfnElement, attr string) string {
	return "<" + *stack.GetLogicalId(res) + "." + attr + ">"
}
