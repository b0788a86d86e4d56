package asl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Error names follow aws-lambda-go's rule, so Retry/Catch match the same
// names locally and on AWS.
func TestFunctionErrorNames(t *testing.T) {
	tests := []struct {
		name string
		fn   func(context.Context, struct{}) (struct{}, error)
		want functionError
	}{
		{"named pointer type", func(context.Context, struct{}) (struct{}, error) { return struct{}{}, &RetryableError{"busy"} },
			functionError{Type: "RetryableError", Message: "busy"}},
		{"errors.New", func(context.Context, struct{}) (struct{}, error) { return struct{}{}, errors.New("plain") },
			functionError{Type: "errorString", Message: "plain"}},
		{"wrapped with %w", func(context.Context, struct{}) (struct{}, error) {
			return struct{}{}, fmt.Errorf("plan: %w", &RetryableError{"busy"})
		}, functionError{Type: "wrapError", Message: "plan: busy"}},
		{"panic with a string", func(context.Context, struct{}) (struct{}, error) { panic("oops") },
			functionError{Type: "string", Message: "oops"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := NewRegistry()
			Handle(reg, "f", tt.fn)
			_, ferr := reg.invoke(context.Background(), "f", "req", []byte(`{}`))
			if ferr == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, *ferr); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	reg := NewRegistry()
	_, ferr := reg.invoke(context.Background(), "missing", "req", nil)
	if ferr == nil || ferr.Type != "Lambda.ResourceNotFoundException" {
		t.Errorf("unknown function: %+v", ferr)
	}
	if err := reg.Register("x", 42); err == nil {
		t.Error("Register accepted a non-function")
	}
}

// The payload goes through Lambda's JSON decoding: a bad payload fails the
// way it would on Lambda.
func TestFunctionPayloadDecoding(t *testing.T) {
	reg := NewRegistry()
	Handle(reg, "f", func(_ context.Context, in struct{ N int }) (int, error) { return in.N * 2, nil })
	out, ferr := reg.invoke(context.Background(), "f", "req", []byte(`{"N": 21}`))
	if ferr != nil || string(out) != "42" {
		t.Errorf("got %s, %v", out, ferr)
	}
	_, ferr = reg.invoke(context.Background(), "f", "req", []byte(`{"N": "x"}`))
	if ferr == nil || ferr.Type != "UnmarshalTypeError" {
		t.Errorf("bad payload: %+v", ferr)
	}
}

// A function's output stays what it returned after later invocations:
// aws-lambda-go encodes into a pooled buffer and returns its bytes after
// putting it back in the pool, so the next invocation of any function
// would write over an output the engine still holds (in an event not yet
// committed, or a task's result).
func TestOutputOutlivesTheNextInvocation(t *testing.T) {
	reg := NewRegistry()
	Handle(reg, "echo", func(_ context.Context, in struct{ S string }) (struct{ S string }, error) { return in, nil })
	first, ferr := reg.invoke(context.Background(), "echo", "r1", []byte(`{"S":"first"}`))
	if ferr != nil {
		t.Fatal(ferr)
	}
	for i := range 100 {
		if _, ferr := reg.invoke(context.Background(), "echo", "r2", []byte(fmt.Sprintf(`{"S":"later-%03d"}`, i))); ferr != nil {
			t.Fatal(ferr)
		}
	}
	if got := strings.TrimSpace(string(first)); got != `{"S":"first"}` {
		t.Errorf("the first output became %q", got)
	}
}
