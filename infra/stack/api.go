package stack

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/leadluence/backend/infra/topology"
)

// AccessLogFormat is the JSON line API Gateway writes per request: who, which
// route, outcome and timing. It deliberately has no headers, query strings,
// paths or bodies, which may carry tokens or personal data.
var AccessLogFormat = map[string]string{
	"requestId":          "$context.requestId",
	"ip":                 "$context.identity.sourceIp",
	"requestTime":        "$context.requestTimeEpoch",
	"routeKey":           "$context.routeKey",
	"status":             "$context.status",
	"protocol":           "$context.protocol",
	"responseLength":     "$context.responseLength",
	"latency":            "$context.responseLatency",
	"integrationLatency": "$context.integrationLatency",
	"integrationError":   "$context.integrationErrorMessage",
}

// httpAPI is the deployed HTTP API.
type httpAPI struct {
	api   awsapigatewayv2.HttpApi
	stage awsapigatewayv2.HttpStage
	url   *string
}

// newHTTPAPI creates the HTTP API with one route per topology route, each a
// Lambda proxy integration (payload 2.0) to the function that owns it, the
// topology's CORS (API Gateway answers preflights itself) and a throttled,
// access-logged $default stage, with the stricter throttle on the
// topology's strict routes.
//
// Routes carry no API Gateway authorizer: the api function verifies its own
// JWTs, and public routes are public by design.
func newHTTPAPI(s awscdk.Stack, topo topology.Stack, fns map[string]function) httpAPI {
	api := awsapigatewayv2.NewHttpApi(s, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String(topo.Name),
		Description:        jsii.String(topo.Name + " HTTP API"),
		CreateDefaultStage: jsii.Bool(false),
		CorsPreflight:      corsPreflight(s, topo.API.CORS),
	})

	accessLogs := awslogs.NewLogGroup(s, jsii.String("HttpApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	stage := awsapigatewayv2.NewHttpStage(s, jsii.String("HttpApiDefaultStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    api,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(topo.API.Throttle.RatePerSecond),
			BurstLimit: jsii.Number(float64(topo.API.Throttle.Burst)),
		},
	})
	format, err := json.Marshal(AccessLogFormat)
	if err != nil {
		panic(fmt.Errorf("encode access log format: %w", err))
	}
	// The L2 AccessLogSettings prop is a jsii interface; setting the L1
	// property is the plain way to reach the same CloudFormation.
	cfnStage := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(),
		Format:         jsii.String(string(format)),
	})

	strict := map[string]bool{}
	for _, k := range topo.API.StrictRoutes {
		strict[k] = true
	}
	routeSettings := map[string]any{}
	for _, fn := range topo.Functions {
		if len(fn.Routes) == 0 {
			continue
		}
		// One integration per function, and one invoke permission for the
		// whole API rather than one per route: a per-route permission each
		// adds to the function's resource policy, which is capped at 20 KB.
		integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(
			jsii.String(pascal(fn.Name)+"Integration"), fns[fn.Name].handler,
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
				PayloadFormatVersion:   awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
				ScopePermissionToRoute: jsii.Bool(false),
			})
		for _, r := range fn.Routes {
			route := awsapigatewayv2.NewHttpRoute(api, jsii.String("Route "+strings.ReplaceAll(r.Key(), "/", "_")), &awsapigatewayv2.HttpRouteProps{
				HttpApi:     api,
				RouteKey:    awsapigatewayv2.HttpRouteKey_With(jsii.String(r.Path), awsapigatewayv2.HttpMethod(r.Method)),
				Integration: integration,
			})
			reason := "Authorization happens inside the " + fn.Name + " Lambda, which verifies the self-issued bearer JWT (and its org scope), or an org's API key by its hash and scopes, on every non-public route; API Gateway has no authorizer for these tokens"
			if r.Public {
				reason = "Public by design (topology Route.Public): sign-up, login, token refresh/logout, password reset, email verification and accepting an invitation (the mailed one-time token is the authority), the second step of a two-factor login (the login's one-time challenge is), health and the OpenAPI document are called before the caller holds a token, and Meta calls its webhook without one (each POST carries an X-Hub-Signature-256 HMAC, each handshake the verify token); the " + fn.Name + " Lambda validates the request and the stage is throttled"
			}
			suppress(route, "AwsSolutions-APIG4", reason)
			if strict[r.Key()] {
				routeSettings[r.Key()] = map[string]any{
					"ThrottlingRateLimit":  topo.API.StrictThrottle.RatePerSecond,
					"ThrottlingBurstLimit": topo.API.StrictThrottle.Burst,
				}
				// A stage's route settings name routes that must exist first.
				cfnStage.Node().AddDependency(route)
			}
		}
	}
	if len(routeSettings) > 0 {
		cfnStage.SetRouteSettings(routeSettings)
	}
	return httpAPI{api: api, stage: stage, url: stage.Url()}
}

// corsPreflight is the API's CORS configuration: the topology's methods,
// headers and max age, and the allowed origins of this deployment
// (topology.CORSOriginsParam): the CDK context value when there is one
// (`cdk deploy -c LEADLUENCE_CORS_ALLOWED_ORIGINS=https://app.example.com`),
// checked by topology.ParseOrigins, or else a CloudFormation
// CommaDelimitedList parameter without a default whose every item must be
// an origin (never a wildcard). Credentials are not allowed: the API takes
// bearer tokens, not cookies.
func corsPreflight(s awscdk.Stack, c topology.CORS) *awsapigatewayv2.CorsPreflightOptions {
	p := topology.CORSOriginsParam
	var origins *[]*string
	if raw := s.Node().TryGetContext(jsii.String(p.Env)); raw != nil {
		v, ok := raw.(string)
		if !ok {
			panic(fmt.Errorf("CDK context %s: want a string of comma-separated origins, got %v", p.Env, raw))
		}
		list, err := topology.ParseOrigins(v)
		if err != nil {
			panic(fmt.Errorf("CDK context %w", err))
		}
		origins = jsii.Strings(list...)
	} else {
		origins = awscdk.NewCfnParameter(s, jsii.String(ParamID(p.Env)), &awscdk.CfnParameterProps{
			Type:                  jsii.String("CommaDelimitedList"),
			Description:           jsii.String(p.Env + ": " + p.Description + ". Or pass `cdk deploy -c " + p.Env + "=...`."),
			AllowedPattern:        jsii.String(topology.OriginPattern),
			ConstraintDescription: jsii.String("each item an origin scheme://host[:port], lower case, no wildcard"),
		}).ValueAsList()
	}
	methods := make([]awsapigatewayv2.CorsHttpMethod, 0, len(c.AllowMethods))
	for _, m := range c.AllowMethods {
		methods = append(methods, awsapigatewayv2.CorsHttpMethod(m))
	}
	return &awsapigatewayv2.CorsPreflightOptions{
		AllowOrigins:     origins,
		AllowMethods:     &methods,
		AllowHeaders:     jsii.Strings(c.AllowHeaders...),
		ExposeHeaders:    jsii.Strings(c.ExposeHeaders...),
		MaxAge:           seconds(c.MaxAge),
		AllowCredentials: jsii.Bool(false),
	}
}
