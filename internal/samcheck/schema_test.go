package samcheck

import (
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/awslabs/goformation/v7/schema"
)

// root is the module's root directory.
func root(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	samOnce, cfnOnce   sync.Once
	samSchema, cfnSchm *Schema
	samErr, cfnErr     error
)

// samExtensions are properties SAM passes through to the resources it
// generates that goformation's SAM schema (v7.14.9) does not list yet;
// each is validated against the CloudFormation definition it becomes.
var samExtensions = []struct{ typ, prop, def string }{
	// LoggingConfig (SAM 1.82, November 2023) becomes AWS::Lambda::Function's.
	{"AWS::Serverless::Function", "LoggingConfig", "AWS::Lambda::Function.LoggingConfig"},
}

func samSchemaT(t *testing.T) *Schema {
	samOnce.Do(func() {
		samSchema, samErr = ParseSchema(schema.SamSchema)
		for _, e := range samExtensions {
			if samErr == nil {
				samErr = samSchema.Extend(e.typ, e.prop, e.def)
			}
		}
	})
	if samErr != nil {
		t.Fatal(samErr)
	}
	return samSchema
}

func cfnSchemaT(t *testing.T) *Schema {
	cfnOnce.Do(func() { cfnSchm, cfnErr = ParseSchema(schema.CloudformationSchema) })
	if cfnErr != nil {
		t.Fatal(cfnErr)
	}
	return cfnSchm
}

func loadT(t *testing.T, rel string) *Template {
	t.Helper()
	tpl, err := Load(filepath.Join(root(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestTemplatesMatchSchema(t *testing.T) {
	for _, tc := range []struct {
		file   string
		schema func(*testing.T) *Schema
	}{
		{"template.yaml", samSchemaT},
		{"infra/fleet.yaml", cfnSchemaT},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tpl := loadT(t, tc.file)
			for _, e := range tc.schema(t).Validate(tpl) {
				t.Error(e)
			}
			for _, e := range CheckRefs(tpl) {
				t.Error(e)
			}
		})
	}
}

// The validator must catch what it claims to: unknown and missing
// properties, wrong types and enums, dangling references.
func TestValidatorCatchesMistakes(t *testing.T) {
	s := samSchemaT(t)
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown property", `
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeOut: 3}`, "Resources.Q.Properties.VisibilityTimeOut: unknown property"},
		{"missing required", `
Resources:
  D:
    Type: AWS::SSM::Document
    Properties: {DocumentType: Command}`, "required property Content is missing"},
		{"wrong type", `
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties: {KeySchema: {AttributeName: PK}}`, "is not of type array"},
		{"bad enum", `
Resources:
  Q:
    Type: AWS::SQS::Queue
    DeletionPolicy: Keep`, "is not one of"},
		{"unknown type", `
Resources:
  Q:
    Type: AWS::SQS::Queues`, "unknown resource type"},
		{"If branch", `
Conditions: {C: !Equals [a, b]}
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties: !If [C, {Nope: 1}, !Ref AWS::NoValue]`, "Nope: unknown property"},
		{"dangling ref", `
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Ref Nothing}`, "Ref Nothing resolves to nothing"},
		{"dangling sub", `
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties: {QueueName: !Sub "${AWS::StackName}-${Q.Nope}"}`, "AWS::SQS::Queue has no attribute Nope"},
		{"undefined condition", `
Resources:
  Q:
    Type: AWS::SQS::Queue
    Condition: Missing`, "condition Missing is not defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := Parse(tc.name, []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got := append(s.Validate(tpl), CheckRefs(tpl)...)
			if !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Errorf("want a problem containing %q, got %q", tc.want, got)
			}
		})
	}
}
