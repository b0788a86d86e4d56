// Package awsclient builds the AWS SDK clients of the Lambda functions from
// the environment: the SDK's default chain (region, credentials), the
// standard retryer, and the SDK's own endpoint overrides
// (AWS_ENDPOINT_URL_<SERVICE>, such as AWS_ENDPOINT_URL_DYNAMODB) for local
// invocation against peers. A service with an overridden endpoint is a
// local peer: S3 is addressed path-style and DynamoDB responses are not
// checksum-validated (minidyn sends no CRC32 header). On AWS no override is
// set and every client keeps the SDK's defaults.
//
// Building a client makes no request, so a function may hold clients for
// dependencies that its code path never calls; its IAM policy grants only
// what it calls (internal/config's IAM table).
package awsclient

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/scheduler"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// MaxAttempts bounds the standard retryer of every client: a Lambda
// invocation is itself retried by its caller (the state machine's Retry,
// the SQS queue, EventBridge), so a few attempts are enough.
const MaxAttempts = 4

// Endpoint override variables (the SDK's own) of the services used.
const (
	EndpointDynamoDB    = "AWS_ENDPOINT_URL_DYNAMODB"
	EndpointS3          = "AWS_ENDPOINT_URL_S3"
	EndpointSSM         = "AWS_ENDPOINT_URL_SSM"
	EndpointSFN         = "AWS_ENDPOINT_URL_SFN"
	EndpointAutoScaling = "AWS_ENDPOINT_URL_AUTO_SCALING"
	EndpointEC2         = "AWS_ENDPOINT_URL_EC2"
	EndpointScheduler   = "AWS_ENDPOINT_URL_SCHEDULER"
	EndpointEventBridge = "AWS_ENDPOINT_URL_EVENTBRIDGE"
)

// Clients are the SDK clients, built once at cold start.
type Clients struct {
	Config      aws.Config
	local       func(string) bool
	S3          *s3.Client
	SSM         *ssm.Client
	SFN         *sfn.Client
	AutoScaling *autoscaling.Client
	EC2         *ec2.Client
	Scheduler   *scheduler.Client
	EventBridge *eventbridge.Client
}

// New loads the SDK configuration and builds the clients. getenv is
// os.Getenv (a parameter so tests can see which overrides count).
func New(ctx context.Context, getenv func(string) string) (*Clients, error) {
	// No config.WithHTTPClient: with AWS_CA_BUNDLE set it makes
	// LoadDefaultConfig fail, and the default client honours the bundle.
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = MaxAttempts })
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("awsclient: load the AWS SDK configuration: %w", err)
	}
	local := func(name string) bool { return getenv(name) != "" || getenv("AWS_ENDPOINT_URL") != "" }
	c := &Clients{Config: cfg, local: local}
	c.S3 = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if local(EndpointS3) {
			o.UsePathStyle = true
			// gofakes3 stores what it is sent; checksums only when required.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}
	})
	c.SSM = ssm.NewFromConfig(cfg)
	c.SFN = sfn.NewFromConfig(cfg)
	c.AutoScaling = autoscaling.NewFromConfig(cfg)
	c.EC2 = ec2.NewFromConfig(cfg)
	c.Scheduler = scheduler.NewFromConfig(cfg)
	c.EventBridge = eventbridge.NewFromConfig(cfg)
	return c, nil
}

// DynamoDBOptions are the options the store's own client needs here.
func (c *Clients) DynamoDBOptions() []func(*dynamodb.Options) {
	if !c.local(EndpointDynamoDB) {
		return nil
	}
	return []func(*dynamodb.Options){func(o *dynamodb.Options) { o.DisableValidateResponseChecksum = true }}
}
