package stack

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	apigw "github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Route paths (the same routes local mode serves).
const (
	RouteWebhook   = "/webhooks/github"
	RouteApproval  = "/approvals/{id}"
	RouteConsole   = "/"
	RouteAPI       = "/api/{proxy+}"
	RouteConsoleUI = "/{proxy+}"
)

// APIProps configures API.
type APIProps struct {
	// Handler is the Api function; it serves every route.
	Handler awslambda.IFunction
	// DomainPrefix is the Cognito hosted UI prefix; "" derives one from the pipeline name
	// and the account.
	DomainPrefix string
	PipelineName string
}

// API is the HTTP front door. The webhook and approval routes are public because they
// authenticate each request themselves (GitHub's HMAC signature; the signed approval
// link), and the approval link must work from a mail client without a login. The console
// and /api sit behind a Cognito user pool through the API's JWT authorizer, so the Api
// function receives the signed-in approver's verified claims.
type API struct {
	HttpApi  apigw.HttpApi
	Stage    apigw.HttpStage
	UserPool awscognito.UserPool
	Client   awscognito.UserPoolClient
	Domain   awscognito.UserPoolDomain
	LogGroup awslogs.LogGroup
}

// URL is the API's base URL without a trailing slash (links in emails start with it).
func (a *API) URL() *string { return a.HttpApi.ApiEndpoint() }

// NewAPI creates the HTTP API, the user pool and the routes under scope/id.
func NewAPI(scope constructs.Construct, id string, p *APIProps) *API {
	c := constructs.NewConstruct(scope, jsii.String(id))
	s := jsii.String
	a := &API{}
	a.HttpApi = apigw.NewHttpApi(c, s("Http"), &apigw.HttpApiProps{
		Description:        s("shipgate: GitHub webhook, approval links, console"),
		CreateDefaultStage: jsii.Bool(false),
	})
	a.LogGroup = awslogs.NewLogGroup(c, s("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_YEAR,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	a.Stage = apigw.NewHttpStage(c, s("DefaultStage"), &apigw.HttpStageProps{
		HttpApi:    a.HttpApi,
		StageName:  s("$default"),
		AutoDeploy: jsii.Bool(true),
		// A public endpoint invokes Lambdas: cap what a flood can cost.
		Throttle: &apigw.ThrottleSettings{RateLimit: jsii.Number(20), BurstLimit: jsii.Number(50)},
	})
	// Access log fields leave out the query string on purpose: the approval link's
	// signed token travels there and must not be written to logs.
	cfn := a.Stage.Node().DefaultChild().(apigw.CfnStage)
	cfn.SetAccessLogSettings(&apigw.CfnStage_AccessLogSettingsProperty{
		DestinationArn: a.LogGroup.LogGroupArn(),
		Format: s(`{"requestId":"$context.requestId","ip":"$context.identity.sourceIp","time":"$context.requestTime",` +
			`"method":"$context.httpMethod","routeKey":"$context.routeKey","status":"$context.status",` +
			`"protocol":"$context.protocol","responseLength":"$context.responseLength",` +
			`"integrationError":"$context.integrationErrorMessage","authorizerError":"$context.authorizer.error"}`),
	})

	a.UserPool = awscognito.NewUserPool(c, s("Users"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		Mfa:             awscognito.Mfa_REQUIRED,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		// Plus adds threat protection (compromised credentials, risky sign-ins): the
		// people in this pool decide what goes to production.
		FeaturePlan:                  awscognito.FeaturePlan_PLUS,
		StandardThreatProtectionMode: awscognito.StandardThreatProtectionMode_FULL_FUNCTION,
		RemovalPolicy:                awscdk.RemovalPolicy_DESTROY,
	})
	prefix := p.DomainPrefix
	if prefix == "" {
		prefix = strings.ToLower(strings.ReplaceAll(p.PipelineName, "_", "-")) + "-" + *awscdk.Aws_ACCOUNT_ID()
	}
	a.Domain = a.UserPool.AddDomain(s("HostedUI"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: s(prefix)},
	})
	consoleURL := awscdk.Fn_Join(s(""), &[]*string{a.URL(), s("/")})
	a.Client = a.UserPool.AddClient(s("Console"), &awscognito.UserPoolClientOptions{
		GenerateSecret:             jsii.Bool(false),
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		PreventUserExistenceErrors: jsii.Bool(true),
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL()},
			CallbackUrls: &[]*string{consoleURL},
			LogoutUrls:   &[]*string{consoleURL},
		},
	})
	authz := awsapigatewayv2authorizers.NewHttpUserPoolAuthorizer(s("Console"), a.UserPool, &awsapigatewayv2authorizers.HttpUserPoolAuthorizerProps{
		UserPoolClients: &[]awscognito.IUserPoolClient{a.Client},
	})
	integ := awsapigatewayv2integrations.NewHttpLambdaIntegration(s("Api"), p.Handler, nil)

	public := func(path, why string, methods ...apigw.HttpMethod) {
		for _, r := range *a.HttpApi.AddRoutes(&apigw.AddRoutesOptions{Path: s(path), Methods: &methods, Integration: integ}) {
			suppress(r, "AwsSolutions-APIG4", why)
		}
	}
	public(RouteWebhook, "GitHub cannot present a Cognito token; every delivery is authenticated by its X-Hub-Signature-256 HMAC, and unsigned requests are refused before any work.",
		apigw.HttpMethod_POST)
	public(RouteApproval, "Approval links are opened from email; each request is authorized by the link's HMAC signature bound to one approval, approver and expiry (GET/HEAD only render).",
		apigw.HttpMethod_GET, apigw.HttpMethod_HEAD, apigw.HttpMethod_POST)
	for _, r := range []struct {
		path    string
		methods []apigw.HttpMethod
	}{
		{RouteConsole, []apigw.HttpMethod{apigw.HttpMethod_GET}},
		{RouteAPI, []apigw.HttpMethod{apigw.HttpMethod_ANY}},
		{RouteConsoleUI, []apigw.HttpMethod{apigw.HttpMethod_GET}},
	} {
		a.HttpApi.AddRoutes(&apigw.AddRoutesOptions{Path: s(r.path), Methods: &r.methods, Integration: integ, Authorizer: authz})
	}
	return a
}
