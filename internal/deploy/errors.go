package deploy

import (
	"errors"
	"fmt"
)

// Kind classifies an error so that callers (the HTTP layer, the workflow)
// can react without parsing messages.
type Kind string

// The kinds of error the domain and its adapters report.
const (
	KindInternal  Kind = "internal"  // a fault of ours or of a dependency
	KindInvalid   Kind = "invalid"   // the input breaks a rule
	KindConflict  Kind = "conflict"  // the current state forbids the change
	KindNotFound  Kind = "not_found" // the thing does not exist (or is not visible)
	KindForbidden Kind = "forbidden" // the caller may not do this
	KindTransient Kind = "transient" // a retry may succeed
)

// Error is a domain error: a kind, the field it concerns (a dotted path such
// as "servers[1].host", or empty) and a human reason.
type Error struct {
	Kind   Kind
	Field  string
	Reason string
	Err    error // optional cause
}

func (e *Error) Error() string {
	msg := e.Reason
	if e.Field != "" {
		msg = e.Field + ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid returns an error of kind Invalid for field.
func Invalid(field, format string, args ...any) error {
	return &Error{Kind: KindInvalid, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Conflict returns an error of kind Conflict for field.
func Conflict(field, format string, args ...any) error {
	return &Error{Kind: KindConflict, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// NotFound returns an error of kind NotFound.
func NotFound(format string, args ...any) error {
	return &Error{Kind: KindNotFound, Reason: fmt.Sprintf(format, args...)}
}

// Forbidden returns an error of kind Forbidden.
func Forbidden(format string, args ...any) error {
	return &Error{Kind: KindForbidden, Reason: fmt.Sprintf(format, args...)}
}

// Transient wraps err as an error of kind Transient: retrying may succeed.
func Transient(err error, format string, args ...any) error {
	return &Error{Kind: KindTransient, Reason: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the kind of the first *Error in err's chain, KindInternal
// for any other non-nil error, and "" for nil.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// IsKind reports whether err has kind k.
func IsKind(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// FieldErrors returns every *Error in err's tree (errors.Join trees
// included), in order, so a caller can report all of them at once.
func FieldErrors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
