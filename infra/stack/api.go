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

	"github.com/shipgate/shipgate/shared/webauth"
	"github.com/shipgate/shipgate/shared/workflow"
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

// API is the HTTP front door. Every route is public at API Gateway and authenticated by
// the Api function: the webhook by GitHub's HMAC signature, the approval routes by the
// signed link (it must work from a mail client without a login), and the console and
// /api by the Cognito user pool (shared/webauth): the hosted UI's authorization code
// flow with PKCE ends in a signed session cookie for browsers, and scripts send an ID
// token as Bearer, both verified in the function against the pool's JWKS. A JWT
// authorizer cannot do this: a browser opening the console has no token to present.
type API struct {
	HttpApi  apigw.HttpApi
	Stage    apigw.HttpStage
	UserPool awscognito.UserPool
	Client   awscognito.UserPoolClient
	Domain   awscognito.UserPoolDomain
	LogGroup awslogs.LogGroup
	// Authorizer guards /api (programmatic callers with a Bearer token).
	Authorizer awsapigatewayv2authorizers.HttpUserPoolAuthorizer
}

// URL is the API's base URL without a trailing slash (links in emails start with it).
func (a *API) URL() *string { return a.HttpApi.ApiEndpoint() }

// url is the API's URL of path.
func (a *API) url(path string) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{a.URL(), jsii.String(path)})
}

// LoginURL is where a person starts signing in to the console.
func (a *API) LoginURL() *string { return a.url(webauth.PathLogin) }

// Environment is what the Api function needs to run the console's sign-in (its
// SHIPGATE_COGNITO_* variables); the issuer follows from the function's region.
func (a *API) Environment() map[string]*string {
	return map[string]*string{
		workflow.EnvCognitoPoolID:   a.UserPool.UserPoolId(),
		workflow.EnvCognitoClientID: a.Client.UserPoolClientId(),
		workflow.EnvCognitoDomain:   a.Domain.BaseUrl(nil),
	}
}

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
	a.Client = a.UserPool.AddClient(s("Console"), &awscognito.UserPoolClientOptions{
		GenerateSecret:             jsii.Bool(false), // a public client: PKCE protects the code
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		PreventUserExistenceErrors: jsii.Bool(true),
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true), ImplicitCodeGrant: jsii.Bool(false)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL()},
			CallbackUrls: &[]*string{a.url(webauth.PathCallback)},
			LogoutUrls:   &[]*string{a.url(webauth.PathSignedOut)},
		},
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
	const consoleWhy = "The Api function authenticates every console and /api request against this Cognito user pool: a session cookie " +
		"signed after the hosted UI's code flow with PKCE and an ID token verified against the pool's JWKS, or a Bearer ID token verified " +
		"the same way; unauthenticated requests get a redirect to sign in or 401. A browser has no token for a JWT authorizer."
	public(RouteConsole, consoleWhy, apigw.HttpMethod_GET)
	public(RouteConsoleUI, consoleWhy, apigw.HttpMethod_GET)
	// /api is for programs, which present a Bearer token: API Gateway's JWT authorizer
	// checks it against the user pool before the function runs (the browser console never
	// calls /api; its pages are server-rendered). The function checks the ID token again
	// and maps its email claim to the caller.
	a.Authorizer = awsapigatewayv2authorizers.NewHttpUserPoolAuthorizer(s("ApiUsers"), a.UserPool,
		&awsapigatewayv2authorizers.HttpUserPoolAuthorizerProps{UserPoolClients: &[]awscognito.IUserPoolClient{a.Client}})
	methods := []apigw.HttpMethod{apigw.HttpMethod_ANY}
	a.HttpApi.AddRoutes(&apigw.AddRoutesOptions{Path: s(RouteAPI), Methods: &methods, Integration: integ, Authorizer: a.Authorizer})
	return a
}
