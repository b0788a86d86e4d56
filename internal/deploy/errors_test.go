package deploy_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestKindOf(t *testing.T) {
	inv := deploy.Invalid("name", "is required")
	tests := []struct {
		name string
		err  error
		want deploy.Kind
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("boom"), deploy.KindInternal},
		{"invalid", inv, deploy.KindInvalid},
		{"conflict", deploy.Conflict("run", "busy"), deploy.KindConflict},
		{"not found", deploy.NotFound("deployment %s", "d-1"), deploy.KindNotFound},
		{"forbidden", deploy.Forbidden("not yours"), deploy.KindForbidden},
		{"transient", deploy.Transient(io.ErrUnexpectedEOF, "ssm"), deploy.KindTransient},
		{"wrapped with %w", fmt.Errorf("store: put d-1: %w", inv), deploy.KindInvalid},
		{"wrapped twice", fmt.Errorf("api: %w", fmt.Errorf("store: %w", deploy.NotFound("x"))), deploy.KindNotFound},
		{"wrapped with %v loses the kind", fmt.Errorf("store: %v", inv), deploy.KindInternal},
		{"join: first kind wins", errors.Join(deploy.Conflict("a", "x"), inv), deploy.KindConflict},
		{"join: plain error then kind", errors.Join(errors.New("boom"), deploy.NotFound("x")), deploy.KindNotFound},
		{"join wrapped", fmt.Errorf("create: %w", errors.Join(inv, deploy.Conflict("b", "y"))), deploy.KindInvalid},
		{"error wrapping a cause keeps its own kind", deploy.Transient(deploy.NotFound("x"), "retry"), deploy.KindTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := deploy.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %q, want %q", tt.err, got, tt.want)
			}
			if tt.want != "" && !deploy.IsKind(tt.err, tt.want) {
				t.Errorf("IsKind(%v, %q) = false", tt.err, tt.want)
			}
		})
	}
	if deploy.IsKind(nil, "") {
		t.Error(`IsKind(nil, "") = true, want false`)
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"field and reason", deploy.Invalid("servers[0].host", "%q is bad", "a b"), `servers[0].host: "a b" is bad`},
		{"reason only", deploy.NotFound("run %s not found", "r-1"), "run r-1 not found"},
		{"with cause", deploy.Transient(io.EOF, "ssm send"), "ssm send: EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	if !errors.Is(deploy.Transient(io.EOF, "x"), io.EOF) {
		t.Error("Transient does not unwrap to its cause")
	}
}

func TestFieldErrors(t *testing.T) {
	a := deploy.Invalid("a", "x")
	b := deploy.Invalid("b", "x")
	c := deploy.Conflict("c", "x")
	tests := []struct {
		name string
		err  error
		want []problem
	}{
		{"nil", nil, nil},
		{"plain error", errors.New("boom"), nil},
		{"one", a, []problem{{deploy.KindInvalid, "a"}}},
		{"wrapped", fmt.Errorf("ctx: %w", a), []problem{{deploy.KindInvalid, "a"}}},
		{"join", errors.Join(a, b, c), []problem{{deploy.KindInvalid, "a"}, {deploy.KindInvalid, "b"}, {deploy.KindConflict, "c"}}},
		{"nested joins keep order", errors.Join(a, errors.Join(b, errors.Join(c))), []problem{{deploy.KindInvalid, "a"}, {deploy.KindInvalid, "b"}, {deploy.KindConflict, "c"}}},
		{"wrapped join", fmt.Errorf("ctx: %w", errors.Join(a, b)), []problem{{deploy.KindInvalid, "a"}, {deploy.KindInvalid, "b"}}},
		{"two %w", fmt.Errorf("%w and %w", a, c), []problem{{deploy.KindInvalid, "a"}, {deploy.KindConflict, "c"}}},
		{"join skips plain errors", errors.Join(errors.New("boom"), b), []problem{{deploy.KindInvalid, "b"}}},
		{"an Error's cause is not walked", deploy.Transient(a, "retry"), []problem{{deploy.KindTransient, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Order matters here: FieldErrors promises it.
			if diff := cmp.Diff(tt.want, problems(tt.err)); diff != "" {
				t.Errorf("FieldErrors (-want +got):\n%s", diff)
			}
		})
	}
}
