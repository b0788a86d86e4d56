package asl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Registry maps the function names that Task resources resolve to (after
// substitution) to the Go handlers that Lambda would run. Handlers are called
// through lambda.NewHandler(fn).Invoke, so payloads are (un)marshalled exactly
// as on Lambda, and a returned error is named as Lambda names it: the Go
// type's name, without the pointer (*tasks.RetryableError → "RetryableError",
// an fmt.Errorf("...: %w") wrapper → "wrapError", errors.New → "errorString").
// It is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	handlers map[string]lambda.Handler
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{handlers: map[string]lambda.Handler{}} }

// Register adds handler under name. handler is anything lambda.Start
// accepts, such as func(context.Context, In) (Out, error).
func (r *Registry) Register(name string, handler any) error {
	if name == "" {
		return fmt.Errorf("asl: register: empty function name")
	}
	if handler == nil || reflect.TypeOf(handler).Kind() != reflect.Func {
		if _, ok := handler.(lambda.Handler); !ok {
			return fmt.Errorf("asl: register %s: handler is a %T, not a function", name, handler)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[name] = lambda.NewHandler(handler)
	return nil
}

// Handle registers a typed handler; it cannot fail on the handler's shape.
func Handle[In, Out any](r *Registry, name string, fn func(context.Context, In) (Out, error)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[name] = lambda.NewHandler(fn)
}

// lookup finds a handler by exact name, or by the function name inside a
// Lambda function ARN (arn:aws:lambda:region:account:function:name[:qualifier]).
func (r *Registry) lookup(name string) (lambda.Handler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if h, ok := r.handlers[name]; ok {
		return h, true
	}
	if parts := strings.Split(name, ":"); len(parts) >= 7 && parts[0] == "arn" && parts[5] == "function" {
		h, ok := r.handlers[parts[6]]
		return h, ok
	}
	return nil, false
}

// A functionError is a handler's failure, named as Lambda names it.
type functionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

// invoke runs a handler the way the Lambda runtime does, panics included.
func (r *Registry) invoke(ctx context.Context, name, requestID string, payload []byte) (out []byte, ferr *functionError) {
	h, ok := r.lookup(name)
	if !ok {
		return nil, &functionError{Type: "Lambda.ResourceNotFoundException", Message: fmt.Sprintf("Function not found: %s", name)}
	}
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: requestID, InvokedFunctionArn: name})
	defer func() {
		if p := recover(); p != nil {
			out, ferr = nil, &functionError{Type: errorTypeName(p), Message: fmt.Sprint(p)}
		}
	}()
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		if ive, ok := err.(messages.InvokeResponse_Error); ok {
			return nil, &functionError{Type: ive.Type, Message: ive.Message}
		}
		if ive, ok := err.(*messages.InvokeResponse_Error); ok {
			return nil, &functionError{Type: ive.Type, Message: ive.Message}
		}
		return nil, &functionError{Type: errorTypeName(err), Message: err.Error()}
	}
	// aws-lambda-go returns the bytes of a pooled buffer that it has put
	// back already: the next invocation of any handler writes over them.
	return bytes.Clone(out), nil
}

// errorTypeName is aws-lambda-go's rule (lambda/errors.go): the type's name,
// dereferencing one pointer.
func errorTypeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return ""
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// stateError turns a function failure into the task's Error and Cause as
// Step Functions reports them: Error is the errorType, Cause the error
// object Lambda returned, as a JSON string.
func (f *functionError) stateError() *stateError {
	name := f.Type
	if name == "" {
		name = "Lambda.Unknown"
	}
	cause, _ := json.Marshal(f)
	return &stateError{Name: name, Cause: string(cause)}
}
