package samcheck

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Schema is a CloudFormation (or CloudFormation + SAM) JSON schema as
// goformation ships it. Validate implements the subset of JSON Schema
// draft 4 that those files use: $ref to #/definitions, type, enum,
// pattern, properties, patternProperties, additionalProperties, required,
// items, anyOf, minProperties, maxProperties and maxLength. An intrinsic
// function stands for a value of any type, except Fn::If, whose two
// branches are both checked.
type Schema struct {
	root map[string]any
	defs map[string]any

	mu    sync.Mutex
	regex map[string]*regexp.Regexp
}

// ParseSchema parses schema text.
func ParseSchema(text string) (*Schema, error) {
	var root map[string]any
	if err := json.Unmarshal([]byte(text), &root); err != nil {
		return nil, fmt.Errorf("samcheck: schema: %w", err)
	}
	defs, _ := root["definitions"].(map[string]any)
	if defs == nil {
		return nil, fmt.Errorf("samcheck: schema has no definitions")
	}
	return &Schema{root: root, defs: defs, regex: map[string]*regexp.Regexp{}}, nil
}

// Extend adds property prop to resource type typ's Properties, validated
// against definition def of the same schema: for properties that SAM
// passes through to CloudFormation and goformation's SAM schema predates.
func (s *Schema) Extend(typ, prop, def string) error {
	if _, ok := s.defs[def]; !ok {
		return fmt.Errorf("samcheck: no definition %s to extend %s with", def, typ)
	}
	props, _ := Get(s.defs[typ], "properties", "Properties", "properties").(map[string]any)
	if props == nil {
		return fmt.Errorf("samcheck: no resource type %s", typ)
	}
	if _, ok := props[prop]; ok {
		return fmt.Errorf("samcheck: %s already has %s: drop the extension", typ, prop)
	}
	props[prop] = map[string]any{"$ref": "#/definitions/" + def}
	return nil
}

// HasType reports whether the schema defines resource type typ.
func (s *Schema) HasType(typ string) bool { _, ok := s.defs[typ]; return ok }

// Validate checks t: its top-level sections against the schema's root,
// and each resource against its type's definition. It returns one
// message per problem, with the path of the value.
func (s *Schema) Validate(t *Template) []string {
	var errs []string
	rootProps, _ := s.root["properties"].(map[string]any)
	for k, v := range t.Root {
		sub, ok := rootProps[k]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: unknown top-level section", k))
			continue
		}
		if k == "Resources" {
			continue
		}
		errs = append(errs, s.validate(sub, v, k)...)
	}
	rs, ok := t.Root["Resources"].(map[string]any)
	if !ok || len(rs) == 0 {
		return append(errs, "Resources: missing or empty")
	}
	ids := make([]string, 0, len(rs))
	for id := range rs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		path := "Resources." + id
		r, ok := rs[id].(map[string]any)
		if !ok {
			errs = append(errs, path+": not a mapping")
			continue
		}
		typ, _ := r["Type"].(string)
		def, ok := s.defs[typ]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: unknown resource type %q", path, typ))
			continue
		}
		errs = append(errs, s.validate(def, r, path)...)
	}
	return errs
}

func (s *Schema) validate(schema, v any, path string) []string {
	sc, ok := schema.(map[string]any)
	if !ok {
		return nil
	}
	if ref, ok := sc["$ref"].(string); ok {
		name, found := strings.CutPrefix(ref, "#/definitions/")
		def, ok := s.defs[name]
		if !found || !ok {
			return []string{fmt.Sprintf("%s: schema reference %s does not resolve", path, ref)}
		}
		return s.validate(def, v, path)
	}
	if in, ok := v.(Intrinsic); ok {
		if in.Name != "Fn::If" {
			return nil
		}
		args, _ := in.Arg.([]any)
		if len(args) != 3 {
			return []string{path + ": Fn::If takes [condition, then, else]"}
		}
		var errs []string
		for i, b := range args[1:] {
			if r, ok := b.(Intrinsic); ok && r.Name == "Ref" && r.Arg == "AWS::NoValue" {
				continue
			}
			errs = append(errs, s.validate(schema, b, fmt.Sprintf("%s(Fn::If branch %d)", path, i+1))...)
		}
		return errs
	}
	if alts, ok := sc["anyOf"].([]any); ok {
		// When no branch matches, report the branch that came closest: one
		// whose type matched, with the fewest problems.
		var best []string
		bestScore := 0
		for i, alt := range alts {
			errs := s.validate(alt, v, path)
			if len(errs) == 0 {
				return nil
			}
			score := len(errs)
			for _, e := range errs {
				if strings.HasPrefix(e, path+": ") && strings.Contains(e, " is not of type ") {
					score += 1000
				}
			}
			if i == 0 || score < bestScore {
				best, bestScore = errs, score
			}
		}
		return best
	}
	if t, ok := sc["type"]; ok {
		if msg := checkType(t, v); msg != "" {
			return []string{fmt.Sprintf("%s: %s", path, msg)}
		}
	}
	var errs []string
	if enum, ok := sc["enum"].([]any); ok {
		str, isStr := v.(string)
		found := false
		for _, e := range enum {
			if isStr && fmt.Sprint(e) == str {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s: %v is not one of %v", path, v, enum))
		}
	}
	switch x := v.(type) {
	case string:
		if p, ok := sc["pattern"].(string); ok {
			if re := s.compile(p); re != nil && !re.MatchString(x) {
				errs = append(errs, fmt.Sprintf("%s: %q does not match %s", path, x, p))
			}
		}
		if n, ok := sc["maxLength"].(float64); ok && len(x) > int(n) {
			errs = append(errs, fmt.Sprintf("%s: longer than %d", path, int(n)))
		}
	case []any:
		if items, ok := sc["items"]; ok {
			for i, e := range x {
				errs = append(errs, s.validate(items, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case map[string]any:
		errs = append(errs, s.validateObject(sc, x, path)...)
	}
	return errs
}

func (s *Schema) validateObject(sc map[string]any, x map[string]any, path string) []string {
	var errs []string
	props, _ := sc["properties"].(map[string]any)
	patterns, _ := sc["patternProperties"].(map[string]any)
	keys := make([]string, 0, len(x))
	for k := range x {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub := path + "." + k
		if p, ok := props[k]; ok {
			errs = append(errs, s.validate(p, x[k], sub)...)
			continue
		}
		matched := false
		for pat, p := range patterns {
			if re := s.compile(pat); re != nil && re.MatchString(k) {
				matched = true
				errs = append(errs, s.validate(p, x[k], sub)...)
			}
		}
		if matched {
			continue
		}
		switch ap := sc["additionalProperties"].(type) {
		case bool:
			if !ap {
				errs = append(errs, fmt.Sprintf("%s: unknown property", sub))
			}
		case map[string]any:
			errs = append(errs, s.validate(ap, x[k], sub)...)
		}
	}
	if req, ok := sc["required"].([]any); ok {
		for _, r := range req {
			if _, ok := x[r.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: required property %s is missing", path, r))
			}
		}
	}
	if n, ok := sc["maxProperties"].(float64); ok && len(x) > int(n) {
		errs = append(errs, fmt.Sprintf("%s: more than %d properties", path, int(n)))
	}
	if n, ok := sc["minProperties"].(float64); ok && len(x) < int(n) {
		errs = append(errs, fmt.Sprintf("%s: fewer than %d properties", path, int(n)))
	}
	return errs
}

// checkType checks v against a JSON Schema type the way CloudFormation
// reads YAML scalars: any scalar is a string; "30" is a number; "true" a
// boolean.
func checkType(t any, v any) string {
	var types []string
	switch x := t.(type) {
	case string:
		types = []string{x}
	case []any:
		for _, e := range x {
			types = append(types, fmt.Sprint(e))
		}
	}
	for _, typ := range types {
		switch x := v.(type) {
		case string:
			switch typ {
			case "string":
				return ""
			case "number":
				if _, err := strconv.ParseFloat(x, 64); err == nil {
					return ""
				}
			case "integer":
				if _, err := strconv.ParseInt(x, 10, 64); err == nil {
					return ""
				}
			case "boolean":
				if x == "true" || x == "false" {
					return ""
				}
			}
		case []any:
			if typ == "array" {
				return ""
			}
		case map[string]any:
			if typ == "object" {
				return ""
			}
		case nil:
			if typ == "null" {
				return ""
			}
		}
	}
	return fmt.Sprintf("%s is not of type %s", describe(v), strings.Join(types, "|"))
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// compile compiles a schema pattern; ECMAScript patterns that Go cannot
// compile are skipped (nil).
func (s *Schema) compile(p string) *regexp.Regexp {
	s.mu.Lock()
	defer s.mu.Unlock()
	if re, ok := s.regex[p]; ok {
		return re
	}
	re, err := regexp.Compile(p)
	if err != nil {
		re = nil
	}
	s.regex[p] = re
	return re
}
