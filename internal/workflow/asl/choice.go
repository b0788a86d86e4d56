package asl

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// A choiceRule is a Choice state rule: a comparison on Variable, or an
// And/Or/Not combination. Only top-level rules carry Next.
type choiceRule struct {
	next     string
	and, or  []*choiceRule
	not      *choiceRule
	variable *path
	op       string
	value    any   // literal operand
	operand  *path // operand of a ...Path operator
	pattern  *regexp.Regexp
}

type opKind int

const (
	kindString opKind = iota
	kindNumeric
	kindBoolean
	kindTimestamp
	kindTest
)

// comparison operators, without their Path variants.
var comparisons = map[string]opKind{
	"StringEquals": kindString, "StringLessThan": kindString, "StringGreaterThan": kindString,
	"StringLessThanEquals": kindString, "StringGreaterThanEquals": kindString, "StringMatches": kindString,
	"NumericEquals": kindNumeric, "NumericLessThan": kindNumeric, "NumericGreaterThan": kindNumeric,
	"NumericLessThanEquals": kindNumeric, "NumericGreaterThanEquals": kindNumeric,
	"BooleanEquals":   kindBoolean,
	"TimestampEquals": kindTimestamp, "TimestampLessThan": kindTimestamp, "TimestampGreaterThan": kindTimestamp,
	"TimestampLessThanEquals": kindTimestamp, "TimestampGreaterThanEquals": kindTimestamp,
	"IsNull": kindTest, "IsPresent": kindTest, "IsNumeric": kindTest, "IsString": kindTest,
	"IsBoolean": kindTest, "IsTimestamp": kindTest,
}

func parseChoiceRule(raw json.RawMessage, top bool) (*choiceRule, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("a choice rule must be an object: %v", err)
	}
	r := &choiceRule{}
	if n, ok := m["Next"]; ok {
		if !top {
			return nil, fmt.Errorf("Next is only allowed on top-level choice rules")
		}
		if err := json.Unmarshal(n, &r.next); err != nil || r.next == "" {
			return nil, fmt.Errorf("Next must be a non-empty string")
		}
	} else if top {
		return nil, fmt.Errorf("a top-level choice rule needs Next")
	}
	ops := 0
	for k, v := range m {
		switch k {
		case "Next", "Comment":
		case "Variable":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, fmt.Errorf("Variable must be a string")
			}
			p, err := parsePath(s)
			if err != nil {
				return nil, fmt.Errorf("Variable: %v", err)
			}
			r.variable = p
		case "And", "Or":
			var list []json.RawMessage
			if err := json.Unmarshal(v, &list); err != nil || len(list) == 0 {
				return nil, fmt.Errorf("%s must be a non-empty array of rules", k)
			}
			for _, item := range list {
				sub, err := parseChoiceRule(item, false)
				if err != nil {
					return nil, fmt.Errorf("%s: %v", k, err)
				}
				if k == "And" {
					r.and = append(r.and, sub)
				} else {
					r.or = append(r.or, sub)
				}
			}
			ops++
		case "Not":
			sub, err := parseChoiceRule(v, false)
			if err != nil {
				return nil, fmt.Errorf("Not: %v", err)
			}
			r.not = sub
			ops++
		default:
			base, isPath := strings.CutSuffix(k, "Path")
			kind, ok := comparisons[k]
			if !ok {
				kind, ok = comparisons[base]
				if !ok || kind == kindTest || base == "StringMatches" {
					return nil, fmt.Errorf("unknown field or operator %q", k)
				}
			} else {
				isPath = false
			}
			ops++
			r.op = k
			if isPath {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return nil, fmt.Errorf("%s must be a path string", k)
				}
				p, err := parsePath(s)
				if err != nil {
					return nil, fmt.Errorf("%s: %v", k, err)
				}
				r.operand = p
				continue
			}
			val, err := decodeJSON(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", k, err)
			}
			if err := checkOperand(k, kind, val); err != nil {
				return nil, err
			}
			if k == "StringMatches" {
				r.pattern = wildcardPattern(val.(string))
			}
			r.value = val
		}
	}
	if ops != 1 {
		return nil, fmt.Errorf("a choice rule needs exactly one of And, Or, Not or a comparison operator, found %d", ops)
	}
	if r.op != "" && r.variable == nil {
		return nil, fmt.Errorf("operator %s needs Variable", r.op)
	}
	if r.op == "" && r.variable != nil {
		return nil, fmt.Errorf("Variable without a comparison operator")
	}
	return r, nil
}

func checkOperand(op string, kind opKind, v any) error {
	ok := false
	switch kind {
	case kindString:
		_, ok = v.(string)
	case kindNumeric:
		_, ok = number(v)
	case kindBoolean, kindTest:
		_, ok = v.(bool)
	case kindTimestamp:
		s, isStr := v.(string)
		_, isTS := timestamp(s)
		ok = isStr && isTS
	}
	if !ok {
		return fmt.Errorf("%s: bad operand %s", op, encodeJSON(v))
	}
	return nil
}

// wildcardPattern compiles a StringMatches pattern: * matches any run of
// characters, \* is a literal star and \\ a literal backslash.
func wildcardPattern(s string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("(?s)^")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			b.WriteString(regexp.QuoteMeta(s[i+1 : i+2]))
			i++
		case c == '*':
			b.WriteString(".*")
		default:
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func timestamp(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

func (r *choiceRule) eval(e *env) (bool, error) {
	switch {
	case r.and != nil:
		for _, s := range r.and {
			ok, err := s.eval(e)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.or != nil:
		for _, s := range r.or {
			ok, err := s.eval(e)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.not != nil:
		ok, err := r.not.eval(e)
		return !ok, err
	}
	root := e.input
	if r.variable.context {
		root = e.ctx
	}
	v, present := r.variable.get(root)
	if r.op == "IsPresent" {
		return present == r.value.(bool), nil
	}
	if !present {
		return false, runtimeErr("Invalid path '%s': The choice state's condition path references an invalid value.", r.variable.raw)
	}
	operand := r.value
	if r.operand != nil {
		var err error
		if operand, err = r.operand.eval(e); err != nil {
			return false, err
		}
	}
	base := strings.TrimSuffix(r.op, "Path")
	if _, ok := comparisons[r.op]; ok {
		base = r.op
	}
	switch base {
	case "IsNull":
		return (v == nil) == operand.(bool), nil
	case "IsNumeric":
		_, ok := number(v)
		return ok == operand.(bool), nil
	case "IsString":
		_, ok := v.(string)
		return ok == operand.(bool), nil
	case "IsBoolean":
		_, ok := v.(bool)
		return ok == operand.(bool), nil
	case "IsTimestamp":
		s, ok := v.(string)
		if ok {
			_, ok = timestamp(s)
		}
		return ok == operand.(bool), nil
	case "BooleanEquals":
		a, ok1 := v.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b, nil
	case "StringMatches":
		s, ok := v.(string)
		return ok && r.pattern.MatchString(s), nil
	}
	switch comparisons[base] {
	case kindString:
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		return compare(base, strings.Compare(a, b)), nil
	case kindNumeric:
		a, ok1 := number(v)
		b, ok2 := number(operand)
		if !ok1 || !ok2 {
			return false, nil
		}
		return compare(base, cmp3(a < b, a > b)), nil
	case kindTimestamp:
		as, ok1 := v.(string)
		bs, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		a, ok1 := timestamp(as)
		b, ok2 := timestamp(bs)
		if !ok1 || !ok2 {
			return false, nil
		}
		return compare(base, a.Compare(b)), nil
	}
	return false, runtimeErr("unknown operator %s", r.op)
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

func compare(op string, c int) bool {
	switch {
	case strings.HasSuffix(op, "LessThanEquals"):
		return c <= 0
	case strings.HasSuffix(op, "GreaterThanEquals"):
		return c >= 0
	case strings.HasSuffix(op, "LessThan"):
		return c < 0
	case strings.HasSuffix(op, "GreaterThan"):
		return c > 0
	}
	return c == 0 // ...Equals
}
