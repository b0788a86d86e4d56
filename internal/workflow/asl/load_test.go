package asl

import (
	"context"
	"strings"
	"testing"
)

// Definitions outside the subset are refused at Load, naming the state and
// the reason.
func TestLoadRefusals(t *testing.T) {
	tests := []struct {
		name, def string
		want      []string // substrings of the error
	}{
		{"not JSON", `{`, []string{"not a JSON object"}},
		{"no StartAt", `{"States": {"A": {"Type": "Succeed"}}}`, []string{"StartAt"}},
		{"StartAt not a state", `{"StartAt": "B", "States": {"A": {"Type": "Succeed"}}}`, []string{`StartAt "B"`}},
		{"unknown state type", `{"StartAt": "A", "States": {"A": {"Type": "Sleep", "End": true}}}`, []string{`state "A"`, `unsupported state type "Sleep"`}},
		{"unknown field", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Colour": "red"}}}`, []string{`state "A"`, "Colour"}},
		{"field of another type", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Retry": []}}}`, []string{`state "A"`, "Retry"}},
		{"missing Next and End", `{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}`, []string{`state "A"`, "Next and End"}},
		{"both Next and End", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B", "End": true}, "B": {"Type": "Succeed"}}}`, []string{`state "A"`, "Next and End"}},
		{"Next to nowhere", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}`, []string{`state "A"`, `"Nowhere"`}},
		{"Catch to nowhere", `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "f", "End": true, "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "X"}]}}}`, []string{`state "A"`, `"X"`}},
		{"unreachable state", `{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "B": {"Type": "Succeed"}}}`, []string{`state "B"`, "not reachable"}},
		{"branch leaves its scope", `{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "P"}}}]}}}`, []string{"P.Branches[0]", `state "X"`}},
		{"distributed map", `{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}}}`, []string{"M.ItemProcessor", "Mode"}},
		{"ItemReader", `{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true, "ItemReader": {}, "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}}}}`, []string{`state "M"`, "ItemReader"}},
		{"unsupported intrinsic", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"x.$": "States.MathRandom(1, 9)"}}}}`, []string{`state "A"`, "States.MathRandom"}},
		{"intrinsic arity", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"x.$": "States.ArrayLength()"}}}}`, []string{`state "A"`, "takes 1"}},
		{"filter path", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "InputPath": "$.a[?(@.b)]"}}}`, []string{`state "A"`, "filter"}},
		{"ResultPath wildcard", `{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "ResultPath": "$.a[*]"}}}`, []string{`state "A"`, "single node"}},
		{"other integration", `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "End": true}}}`, []string{`state "A"`, "sns:publish"}},
		{"unresolved substitution", `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${MissingArn}", "End": true}}}`, []string{`state "A"`, "MissingArn"}},
		{"function not registered", `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "nope", "End": true}}}`, []string{`state "A"`, `"nope" is not in the registry`}},
		{"callback without token", `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"FunctionName": "f", "Payload": {}}, "End": true}}}`, []string{`state "A"`, "$$.Task.Token"}},
		{"States.ALL not last", `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "f", "End": true, "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}}}`, []string{`state "A"`, "States.ALL"}},
		{"choice rule with two operators", `{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x", "IsNull": true, "Next": "D"}]}, "D": {"Type": "Succeed"}}}`, []string{`state "C"`, "exactly one"}},
		{"choice operand of the wrong type", `{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEquals": "5", "Next": "D"}]}, "D": {"Type": "Succeed"}}}`, []string{`state "C"`, "NumericEquals"}},
		{"nested rule with Next", `{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Not": {"Variable": "$.a", "IsNull": true, "Next": "D"}, "Next": "D"}]}, "D": {"Type": "Succeed"}}}`, []string{`state "C"`, "top-level"}},
		{"heartbeat not below timeout", `{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "f", "End": true, "TimeoutSeconds": 10, "HeartbeatSeconds": 10}}}`, []string{`state "A"`, "HeartbeatSeconds"}},
		{"JSONata", `{"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}`, []string{"JSONata"}},
		{"Wait with two fields", `{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true}}}`, []string{`state "W"`, "exactly one"}},
	}
	reg := NewRegistry()
	Handle(reg, "f", func(context.Context, any) (any, error) { return nil, nil })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Config{Registry: reg, Journal: NewMemJournal()})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			err = e.Load("m", []byte(tt.def))
			if err == nil {
				t.Fatal("Load accepted the definition")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoadAcceptsSupportedShapes(t *testing.T) {
	reg := NewRegistry()
	for _, n := range []string{"plan", "dispatch", "record"} {
		Handle(reg, n, func(context.Context, any) (any, error) { return nil, nil })
	}
	e, err := New(Config{Registry: reg, Journal: NewMemJournal(), Substitutions: callbackSubs})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Load("run", []byte(callbackMachine)); err != nil {
		t.Fatalf("the run machine's shape was refused: %v", err)
	}
}
