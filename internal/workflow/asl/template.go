package asl

import (
	"fmt"
	"strings"
)

// A template is a compiled Parameters, ResultSelector, ItemSelector or
// Payload object: keys ending in ".$" take the value of a path or an
// intrinsic function call, everything else is copied as is. Objects nested
// in arrays are processed too.
type template interface {
	eval(e *env) (any, error)
}

type constTemplate struct{ v any }

func (c constTemplate) eval(*env) (any, error) { return c.v, nil }

type objTemplate []tfield

type tfield struct {
	key string
	t   template
	x   expr // set instead of t for ".$" keys
	src string
}

func (o objTemplate) eval(e *env) (any, error) {
	out := make(map[string]any, len(o))
	for _, f := range o {
		if f.x != nil {
			v, err := f.x.eval(e)
			if err != nil {
				if se, ok := err.(*stateError); ok {
					return nil, &stateError{Name: se.Name, Cause: fmt.Sprintf("the field '%s.$' (%s): %s", f.key, f.src, se.Cause)}
				}
				return nil, err
			}
			out[f.key] = v
			continue
		}
		v, err := f.t.eval(e)
		if err != nil {
			return nil, err
		}
		out[f.key] = v
	}
	return out, nil
}

type arrTemplate []template

func (a arrTemplate) eval(e *env) (any, error) {
	out := make([]any, len(a))
	for i, t := range a {
		v, err := t.eval(e)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func compileTemplate(v any) (template, error) {
	switch x := v.(type) {
	case map[string]any:
		var o objTemplate
		for _, k := range sortedKeys(x) {
			if name, ok := strings.CutSuffix(k, ".$"); ok {
				s, ok := x[k].(string)
				if !ok {
					return nil, fmt.Errorf("field %q must be a string (a path or an intrinsic function)", k)
				}
				ex, err := parseExpr(s)
				if err != nil {
					return nil, fmt.Errorf("field %q: %v", k, err)
				}
				o = append(o, tfield{key: name, x: ex, src: s})
				continue
			}
			t, err := compileTemplate(x[k])
			if err != nil {
				return nil, err
			}
			o = append(o, tfield{key: k, t: t})
		}
		return o, nil
	case []any:
		a := make(arrTemplate, len(x))
		for i, e := range x {
			t, err := compileTemplate(e)
			if err != nil {
				return nil, err
			}
			a[i] = t
		}
		return a, nil
	}
	return constTemplate{v}, nil
}

// usesPath reports whether any ".$" field of t refers to the path raw
// (such as "$$.Task.Token"), directly or as an intrinsic argument.
func usesPath(t template, raw string) bool {
	switch x := t.(type) {
	case objTemplate:
		for _, f := range x {
			if f.x != nil && exprUses(f.x, raw) || f.t != nil && usesPath(f.t, raw) {
				return true
			}
		}
	case arrTemplate:
		for _, e := range x {
			if usesPath(e, raw) {
				return true
			}
		}
	}
	return false
}

func exprUses(x expr, raw string) bool {
	switch v := x.(type) {
	case *path:
		return v.raw == raw
	case *call:
		for _, a := range v.args {
			if exprUses(a, raw) {
				return true
			}
		}
	}
	return false
}

// staticField returns the constant value of key in an object template.
func staticField(t template, key string) (any, bool) {
	o, ok := t.(objTemplate)
	if !ok {
		return nil, false
	}
	for _, f := range o {
		if f.key == key && f.t != nil {
			if c, ok := f.t.(constTemplate); ok {
				return c.v, true
			}
		}
	}
	return nil, false
}

func hasField(t template, key string) bool {
	o, ok := t.(objTemplate)
	if !ok {
		return false
	}
	for _, f := range o {
		if f.key == key {
			return true
		}
	}
	return false
}
