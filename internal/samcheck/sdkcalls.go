package samcheck

// iamPrefix maps an aws-sdk-go-v2 service package to its IAM service
// prefix.
var iamPrefix = map[string]string{
	"dynamodb": "dynamodb", "s3": "s3", "ssm": "ssm", "sfn": "states",
	"autoscaling": "autoscaling", "ec2": "ec2", "sqs": "sqs", "lambda": "lambda",
	"scheduler": "scheduler", "eventbridge": "events",
}

// opActions maps the operations whose IAM action has another name.
var opActions = map[string][]string{
	"s3:ListObjectsV2":            {"s3:ListBucket"},
	"s3:DeleteObjects":            {"s3:DeleteObject"},
	"s3:HeadObject":               {"s3:GetObject"},
	"dynamodb:TransactGetItems":   {"dynamodb:GetItem"},
	"dynamodb:TransactWriteItems": nil, // the actions of its items (see transactItemActions)
}

// transactItemActions maps the members of a DynamoDB TransactWriteItem to
// the IAM action each needs.
var transactItemActions = map[string]string{
	"Put": "dynamodb:PutItem", "Delete": "dynamodb:DeleteItem",
	"Update": "dynamodb:UpdateItem", "ConditionCheck": "dynamodb:ConditionCheckItem",
}

const sdkService = "github.com/aws/aws-sdk-go-v2/service/"

func actionsOf(svc, op string) []string {
	prefix, ok := iamPrefix[svc]
	if !ok {
		prefix = svc
	}
	key := prefix + ":" + op
	if a, ok := opActions[key]; ok {
		return a
	}
	return []string{key}
}
