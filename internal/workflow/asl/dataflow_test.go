package asl

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// Conformance vectors written from the documented inputs and outputs of
// the Step Functions developer guide ("Processing input and output",
// "Specifying state output using ResultPath", "Filtering state output using
// OutputPath", "Intrinsic functions", "Handling errors").
func TestDataFlowConformance(t *testing.T) {
	helloFn := func(_ context.Context, in struct{ Who string }) (string, error) {
		return "Hello, " + in.Who + "!", nil
	}
	emrFn := func(context.Context, any) (map[string]any, error) {
		return map[string]any{
			"resourceType": "elasticmapreduce",
			"resource":     "createCluster.sync",
			"output": map[string]any{
				"SdkHttpMetadata":     map[string]any{"HttpHeaders": map[string]any{"Content-Length": "1112", "x-amzn-RequestId": "1234-5678-9012"}, "HttpStatusCode": 200},
				"SdkResponseMetadata": map[string]any{"RequestId": "1234-5678-9012"},
				"ClusterId":           "AKIAIOSFODNN7EXAMPLE",
			},
		}, nil
	}
	type customError struct{ error }
	failFn := func(context.Context, any) (any, error) {
		return nil, &customError{errors.New("This is a custom error!")}
	}

	const who = `{"comment": "This is a test of the input and output of a Task state.", "details": "Default example", "who": "AWS Step Functions"}`
	tests := []struct {
		name, state, input, want string
	}{
		{
			name:  "InputPath selects a dataset",
			state: `{"Type": "Pass", "InputPath": "$.dataset2", "End": true}`,
			input: `{"comment": "Example for InputPath.", "dataset1": {"val1": 1, "val2": 2, "val3": 3}, "dataset2": {"val1": "a", "val2": "b", "val3": "c"}}`,
			want:  `{"val1": "a", "val2": "b", "val3": "c"}`,
		},
		{
			name:  "Parameters with paths and static values",
			state: `{"Type": "Pass", "End": true, "Parameters": {"comment": "Selecting what I care about.", "MyDetails": {"size.$": "$.product.details.size", "exists.$": "$.product.availability", "StaticValue": "foo"}}}`,
			input: `{"comment": "Example for Parameters.", "product": {"details": {"color": "blue", "size": "small", "material": "cotton"}, "availability": "in stock", "sku": "2317", "cost": "$23"}}`,
			want:  `{"comment": "Selecting what I care about.", "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}}`,
		},
		{
			name:  "ResultSelector then ResultPath",
			state: `{"Type": "Task", "Resource": "emr", "End": true, "ResultSelector": {"ClusterId.$": "$.output.ClusterId", "ResourceType.$": "$.resourceType"}, "ResultPath": "$.EMROutput"}`,
			input: `{"cluster": "c1"}`,
			want:  `{"cluster": "c1", "EMROutput": {"ClusterId": "AKIAIOSFODNN7EXAMPLE", "ResourceType": "elasticmapreduce"}}`,
		},
		{
			name:  "ResultPath default replaces the input",
			state: `{"Type": "Task", "Resource": "hello", "End": true}`,
			input: who,
			want:  `"Hello, AWS Step Functions!"`,
		},
		{
			name:  "ResultPath null keeps the input",
			state: `{"Type": "Task", "Resource": "hello", "ResultPath": null, "End": true}`,
			input: who,
			want:  who,
		},
		{
			name:  "ResultPath adds the result to the input",
			state: `{"Type": "Task", "Resource": "hello", "ResultPath": "$.taskresult", "End": true}`,
			input: who,
			want:  `{"comment": "This is a test of the input and output of a Task state.", "details": "Default example", "who": "AWS Step Functions", "taskresult": "Hello, AWS Step Functions!"}`,
		},
		{
			name:  "InputPath, ResultPath and OutputPath together",
			state: `{"Type": "Task", "Resource": "hello", "InputPath": "$.lambda", "ResultPath": "$.data.lambdaresult", "OutputPath": "$.data", "End": true}`,
			input: `{"comment": "An input comment.", "data": {"val1": 23, "val2": 17}, "extra": "foo", "lambda": {"who": "AWS Step Functions"}}`,
			want:  `{"val1": 23, "val2": 17, "lambdaresult": "Hello, AWS Step Functions!"}`,
		},
		{
			name:  "Pass Result with ResultPath",
			state: `{"Type": "Pass", "Result": {"x-datum": 0.381018, "y-datum": 622.2269926397355}, "ResultPath": "$.coords", "End": true}`,
			input: `{"georefOf": "Home"}`,
			want:  `{"georefOf": "Home", "coords": {"x-datum": 0.381018, "y-datum": 622.2269926397355}}`,
		},
		{
			name:  "OutputPath null gives an empty object",
			state: `{"Type": "Pass", "OutputPath": null, "End": true}`,
			input: `{"a": 1}`,
			want:  `{}`,
		},
		{
			name:  "wildcards and slices",
			state: `{"Type": "Pass", "End": true, "Parameters": {"ids.$": "$.items[*].id", "first.$": "$.items[0].id", "last.$": "$.items[-1].id", "two.$": "$.items[0:2].id", "quoted.$": "$['odd key']"}}`,
			input: `{"items": [{"id": 1}, {"id": 2}, {"id": 3}], "odd key": true}`,
			want:  `{"ids": [1, 2, 3], "first": 1, "last": 3, "two": [1, 2], "quoted": true}`,
		},
		{
			name:  "context object",
			state: `{"Type": "Pass", "End": true, "Parameters": {"name.$": "$$.Execution.Name", "id.$": "$$.Execution.Id", "input.$": "$$.Execution.Input.a", "state.$": "$$.State.Name", "machine.$": "$$.StateMachine.Name"}}`,
			input: `{"a": 1}`,
			want:  `{"name": "exec-1", "id": "arn:aws:states:local:000000000000:execution:m:exec-1", "input": 1, "state": "S", "machine": "m"}`,
		},
		{
			name:  "Map ItemSelector with the context object",
			state: `{"Type": "Map", "ItemsPath": "$.detail.shipped", "ItemSelector": {"parcel.$": "$$.Map.Item.Value", "courier.$": "$.delivery-partner", "index.$": "$$.Map.Item.Index"}, "ResultPath": "$.out", "OutputPath": "$.out", "End": true, "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}`,
			input: `{"delivery-partner": "UQS", "detail": {"shipped": [{"prod": "R31", "dest-code": 9511}, {"prod": "S39", "dest-code": 9511}]}}`,
			want:  `[{"parcel": {"prod": "R31", "dest-code": 9511}, "courier": "UQS", "index": 0}, {"parcel": {"prod": "S39", "dest-code": 9511}, "courier": "UQS", "index": 1}]`,
		},
		{
			name:  "Catch with ResultPath keeps the input and adds the error",
			state: `{"Type": "Task", "Resource": "fail", "End": true, "Catch": [{"ErrorEquals": ["customError"], "ResultPath": "$.error", "Next": "After"}]}`,
			input: `{"foo": "bar"}`,
			want:  `{"foo": "bar", "error": {"Error": "customError", "Cause": "{\"errorType\":\"customError\",\"errorMessage\":\"This is a custom error!\"}"}}`,
		},
		{
			name:  "Catch without ResultPath: the error is the output",
			state: `{"Type": "Task", "Resource": "fail", "End": true, "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "After"}]}`,
			input: `{"foo": "bar"}`,
			want:  `{"Error": "customError", "Cause": "{\"errorType\":\"customError\",\"errorMessage\":\"This is a custom error!\"}"}`,
		},
		{
			name:  "lambda:invoke output shape, Payload selected",
			state: `{"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "hello", "Payload": {"Who.$": "$.who"}}, "ResultSelector": {"p.$": "$.Payload", "code.$": "$.StatusCode"}, "End": true}`,
			input: `{"who": "Eden"}`,
			want:  `{"p": "Hello, Eden!", "code": 200}`,
		},
		{
			name: "intrinsics from the guide",
			state: `{"Type": "Pass", "End": true, "Parameters": {
			  "format.$": "States.Format('Hello, my name is {}.', $.name)",
			  "escaped.$": "States.Format('\\{\\} {} \\'q\\'', $.n)",
			  "toJson.$": "States.StringToJson($.someString)",
			  "toString.$": "States.JsonToString($.someJson)",
			  "array.$": "States.Array('Foo', 2020, $.someJson, null)",
			  "partition.$": "States.ArrayPartition($.inputArray, 4)",
			  "contains.$": "States.ArrayContains($.inputArray, $.lookingFor)",
			  "range.$": "States.ArrayRange(1, 9, 2)",
			  "item.$": "States.ArrayGetItem($.inputArray, $.index)",
			  "length.$": "States.ArrayLength($.inputArray)",
			  "unique.$": "States.ArrayUnique($.dups)",
			  "merge.$": "States.JsonMerge($.json1, $.json2, false)",
			  "add.$": "States.MathAdd($.value1, $.step)",
			  "split.$": "States.StringSplit($.inputString, $.splitter)",
			  "split2.$": "States.StringSplit('This.is+a,test=string', '.+,=')",
			  "hash.$": "States.Hash('input data', 'SHA-1')",
			  "b64.$": "States.Base64Encode('Data to encode')",
			  "nested.$": "States.ArrayLength(States.StringSplit('a,b,c', ','))"}}`,
			input: `{"name": "Arnav", "n": 1, "someString": "{\"number\": 20}", "someJson": {"name": "Foo", "year": 2020},
			  "inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5, "index": 5, "dups": [1, 2, 3, 3, 3, 3, 3, 3, 4],
			  "json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3},
			  "value1": 111, "step": -1, "inputString": "1,2,3,4,5", "splitter": ","}`,
			want: `{"format": "Hello, my name is Arnav.", "escaped": "{} 1 'q'", "toJson": {"number": 20}, "toString": "{\"name\":\"Foo\",\"year\":2020}",
			  "array": ["Foo", 2020, {"name": "Foo", "year": 2020}, null], "partition": [[1, 2, 3, 4], [5, 6, 7, 8], [9]],
			  "contains": true, "range": [1, 3, 5, 7, 9], "item": 6, "length": 9, "unique": [1, 2, 3, 4],
			  "merge": {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}, "add": 110, "split": ["1", "2", "3", "4", "5"],
			  "split2": ["This", "is", "a", "test", "string"], "hash": "aaff4a450a104cd177d28d18d74485e8cae074b7",
			  "b64": "RGF0YSB0byBlbmNvZGU=", "nested": 3}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := NewRegistry()
			Handle(reg, "hello", helloFn)
			Handle(reg, "emr", emrFn)
			Handle(reg, "fail", failFn)
			def := `{"StartAt": "S", "States": {"S": ` + tt.state + `, "After": {"Type": "Pass", "End": true}}}`
			if !stateHasCatch(tt.state) {
				def = `{"StartAt": "S", "States": {"S": ` + tt.state + `}}`
			}
			x, _ := runOne(t, reg, def, tt.input)
			if x.Status != workflow.StatusSucceeded {
				t.Fatalf("status %s: %s: %s", x.Status, x.Error, x.Cause)
			}
			if diff := cmp.Diff(canon(t, []byte(tt.want)), canon(t, x.Output)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func stateHasCatch(s string) bool { return len(s) > 0 && contains(s, `"Catch"`) }

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// Failures that Step Functions reports as States.Runtime end the execution:
// neither Retry nor Catch on States.ALL applies.
func TestRuntimeErrorsAreNotCaught(t *testing.T) {
	tests := []struct{ name, state, input string }{
		{"missing InputPath", `{"Type": "Pass", "InputPath": "$.nope", "End": true}`, `{}`},
		{"missing Parameters path", `{"Type": "Pass", "Parameters": {"a.$": "$.nope"}, "End": true}`, `{}`},
		{"ResultPath through a string", `{"Type": "Pass", "Result": 1, "ResultPath": "$.a.b", "End": true}`, `{"a": "s"}`},
		{"Choice on a missing variable", `{"Type": "Choice", "Choices": [{"Variable": "$.nope", "StringEquals": "x", "Next": "S2"}], "Default": "S2"}`, `{}`},
		{"intrinsic on a wrong type", `{"Type": "Pass", "Parameters": {"a.$": "States.ArrayLength($.s)"}, "End": true}`, `{"s": "x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			def := `{"StartAt": "P", "States": {
			  "P": {"Type": "Parallel", "Next": "S2", "Branches": [{"StartAt": "S", "States": {"S": ` + tt.state + `, "S2": {"Type": "Succeed"}}}],
			    "Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S2"}]},
			  "S2": {"Type": "Succeed"}}}`
			if !contains(tt.state, `"S2"`) {
				def = `{"StartAt": "P", "States": {
				  "P": {"Type": "Parallel", "Next": "S2", "Branches": [{"StartAt": "S", "States": {"S": ` + tt.state + `}}],
				    "Retry": [{"ErrorEquals": ["States.ALL"]}], "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S2"}]},
				  "S2": {"Type": "Succeed"}}}`
			}
			x, p := runOne(t, nil, def, tt.input)
			if x.Status != workflow.StatusFailed || x.Error != ErrRuntime {
				t.Fatalf("got %s %s (%s), want FAILED States.Runtime", x.Status, x.Error, x.Cause)
			}
			if diff := cmp.Diff([]string{"P", "P/S"}, p); diff != "" {
				t.Errorf("path (-want +got):\n%s", diff)
			}
		})
	}
}
