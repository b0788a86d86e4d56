package asl

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// Every Choice operator, each run as an execution that goes to "Yes" when
// the rule matches and to the Default "No" otherwise.
func TestChoiceOperators(t *testing.T) {
	const input = `{"s": "beta", "s2": "beta", "lo": "alpha", "n": 5, "n2": 5, "big": 10, "b": true, "b2": true,
	  "t": "2024-01-02T03:04:05Z", "t2": "2024-01-02T03:04:05Z", "later": "2025-01-01T00:00:00.5Z", "null": null,
	  "file": "log-2024.txt", "star": "a*b"}`
	tests := []struct {
		rule string
		want bool
	}{
		{`"Variable": "$.s", "StringEquals": "beta"`, true},
		{`"Variable": "$.s", "StringEquals": "Beta"`, false},
		{`"Variable": "$.n", "StringEquals": "5"`, false}, // wrong type: false, not an error
		{`"Variable": "$.s", "StringEqualsPath": "$.s2"`, true},
		{`"Variable": "$.s", "StringLessThan": "gamma"`, true},
		{`"Variable": "$.s", "StringLessThanPath": "$.lo"`, false},
		{`"Variable": "$.s", "StringGreaterThan": "alpha"`, true},
		{`"Variable": "$.s", "StringGreaterThanPath": "$.lo"`, true},
		{`"Variable": "$.s", "StringLessThanEquals": "beta"`, true},
		{`"Variable": "$.s", "StringLessThanEqualsPath": "$.lo"`, false},
		{`"Variable": "$.s", "StringGreaterThanEquals": "beta"`, true},
		{`"Variable": "$.s", "StringGreaterThanEqualsPath": "$.s2"`, true},
		{`"Variable": "$.file", "StringMatches": "log-*.txt"`, true},
		{`"Variable": "$.file", "StringMatches": "log-*.csv"`, false},
		{`"Variable": "$.star", "StringMatches": "a\\*b"`, true},
		{`"Variable": "$.file", "StringMatches": "a\\*b"`, false},
		{`"Variable": "$.n", "NumericEquals": 5`, true},
		{`"Variable": "$.n", "NumericEquals": 5.0`, true},
		{`"Variable": "$.n", "NumericEqualsPath": "$.n2"`, true},
		{`"Variable": "$.n", "NumericLessThan": 10`, true},
		{`"Variable": "$.n", "NumericLessThanPath": "$.n2"`, false},
		{`"Variable": "$.n", "NumericGreaterThan": 4.5`, true},
		{`"Variable": "$.n", "NumericGreaterThanPath": "$.big"`, false},
		{`"Variable": "$.n", "NumericLessThanEquals": 5`, true},
		{`"Variable": "$.n", "NumericLessThanEqualsPath": "$.big"`, true},
		{`"Variable": "$.n", "NumericGreaterThanEquals": 6`, false},
		{`"Variable": "$.big", "NumericGreaterThanEqualsPath": "$.n"`, true},
		{`"Variable": "$.s", "NumericEquals": 5`, false},
		{`"Variable": "$.b", "BooleanEquals": true`, true},
		{`"Variable": "$.b", "BooleanEquals": false`, false},
		{`"Variable": "$.b", "BooleanEqualsPath": "$.b2"`, true},
		{`"Variable": "$.t", "TimestampEquals": "2024-01-02T03:04:05Z"`, true},
		{`"Variable": "$.t", "TimestampEqualsPath": "$.t2"`, true},
		{`"Variable": "$.t", "TimestampLessThan": "2024-01-02T03:04:06Z"`, true},
		{`"Variable": "$.t", "TimestampLessThanPath": "$.later"`, true},
		{`"Variable": "$.t", "TimestampGreaterThan": "2024-01-02T03:04:05Z"`, false},
		{`"Variable": "$.later", "TimestampGreaterThanPath": "$.t"`, true},
		{`"Variable": "$.t", "TimestampLessThanEquals": "2024-01-02T03:04:05Z"`, true},
		{`"Variable": "$.later", "TimestampLessThanEqualsPath": "$.t"`, false},
		{`"Variable": "$.t", "TimestampGreaterThanEquals": "2023-12-31T23:59:59Z"`, true},
		{`"Variable": "$.t", "TimestampGreaterThanEqualsPath": "$.later"`, false},
		{`"Variable": "$.s", "TimestampEquals": "2024-01-02T03:04:05Z"`, false},
		{`"Variable": "$.null", "IsNull": true`, true},
		{`"Variable": "$.s", "IsNull": true`, false},
		{`"Variable": "$.s", "IsPresent": true`, true},
		{`"Variable": "$.missing", "IsPresent": true`, false},
		{`"Variable": "$.missing", "IsPresent": false`, true},
		{`"Variable": "$.n", "IsNumeric": true`, true},
		{`"Variable": "$.s", "IsNumeric": false`, true},
		{`"Variable": "$.s", "IsString": true`, true},
		{`"Variable": "$.b", "IsString": true`, false},
		{`"Variable": "$.b", "IsBoolean": true`, true},
		{`"Variable": "$.n", "IsBoolean": true`, false},
		{`"Variable": "$.t", "IsTimestamp": true`, true},
		{`"Variable": "$.s", "IsTimestamp": true`, false},
		{`"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Variable": "$.s", "StringEquals": "beta"}]`, true},
		{`"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Variable": "$.s", "StringEquals": "no"}]`, false},
		{`"Or": [{"Variable": "$.n", "NumericGreaterThan": 100}, {"Variable": "$.b", "BooleanEquals": true}]`, true},
		{`"Or": [{"Variable": "$.n", "NumericGreaterThan": 100}, {"Variable": "$.b", "BooleanEquals": false}]`, false},
		{`"Not": {"Variable": "$.s", "StringEquals": "beta"}`, false},
		{`"Not": {"And": [{"Variable": "$.missing", "IsPresent": true}, {"Variable": "$.missing", "IsNull": false}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			def := `{"StartAt": "C", "States": {
			  "C": {"Type": "Choice", "Choices": [{` + tt.rule + `, "Next": "Yes"}], "Default": "No"},
			  "Yes": {"Type": "Succeed"}, "No": {"Type": "Succeed"}}}`
			x, p := runOne(t, nil, def, input)
			if x.Status != workflow.StatusSucceeded {
				t.Fatalf("status %s %s %s", x.Status, x.Error, x.Cause)
			}
			want := []string{"C", "No"}
			if tt.want {
				want = []string{"C", "Yes"}
			}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("path (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChoiceNoMatch(t *testing.T) {
	def := `{"StartAt": "C", "States": {
	  "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "Yes"}]},
	  "Yes": {"Type": "Succeed"}}}`
	x, _ := runOne(t, nil, def, `{"n": 2}`)
	if x.Status != workflow.StatusFailed || x.Error != ErrNoChoiceMatched {
		t.Errorf("got %s %s", x.Status, x.Error)
	}
}
