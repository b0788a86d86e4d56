// Package samcheck checks template.yaml (the SAM application) and
// infra/fleet.yaml (the fleet's CloudFormation template) offline: against
// the CloudFormation and SAM resource schema that goformation ships,
// against every reference and condition they use, and against the Go code
// they deploy (build targets, environment variables, state machine
// substitutions, IAM actions, the table schema, the SSM document). Its
// tests also invoke every function binary under the Lambda runtime
// interface emulator against local peers (internal/samcheck/peers).
//
// No AWS account is needed: everything here runs on this machine.
package samcheck

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Intrinsic is a CloudFormation intrinsic function in a template: !Ref X
// or {"Ref": X} is Intrinsic{"Ref", "X"}; !GetAtt A.B is
// Intrinsic{"Fn::GetAtt", []any{"A", "B"}}; !Sub s is {"Fn::Sub", s}.
type Intrinsic struct {
	Name string
	Arg  any
}

// Template is a parsed CloudFormation or SAM template: maps, lists,
// strings (every scalar, as CloudFormation reads them) and Intrinsics.
type Template struct {
	Path string
	Root map[string]any
	// Node is the YAML document, for its comments.
	Node *yaml.Node
}

// Load parses a YAML template with CloudFormation's short-form tags.
func Load(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse parses template text.
func Parse(path string, b []byte) (*Template, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	v, err := convert(&doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: not a mapping", path)
	}
	return &Template{Path: path, Root: root, Node: &doc}, nil
}

var shortTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition", "!GetAtt": "Fn::GetAtt", "!Sub": "Fn::Sub", "!Join": "Fn::Join",
	"!If": "Fn::If", "!Equals": "Fn::Equals", "!Not": "Fn::Not", "!And": "Fn::And", "!Or": "Fn::Or",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue",
	"!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr", "!ToJsonString": "Fn::ToJsonString",
	"!Length": "Fn::Length",
}

func convert(n *yaml.Node) (any, error) {
	if n.Kind == yaml.DocumentNode {
		return convert(n.Content[0])
	}
	if n.Kind == yaml.AliasNode {
		return nil, fmt.Errorf("line %d: YAML aliases are not allowed in CloudFormation templates", n.Line)
	}
	var v any
	switch n.Kind {
	case yaml.ScalarNode:
		v = n.Value
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			cv, err := convert(c)
			if err != nil {
				return nil, err
			}
			l = append(l, cv)
		}
		v = l
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			cv, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = cv
		}
		if len(m) == 1 {
			for k, a := range m {
				if k == "Ref" || k == "Condition" && isString(a) || strings.HasPrefix(k, "Fn::") {
					if k == "Fn::GetAtt" {
						a = splitGetAtt(a)
					}
					return Intrinsic{Name: k, Arg: a}, nil
				}
			}
		}
		v = m
	}
	if name, ok := shortTags[n.Tag]; ok {
		if name == "Fn::GetAtt" {
			v = splitGetAtt(v)
		}
		return Intrinsic{Name: name, Arg: v}, nil
	}
	if strings.HasPrefix(n.Tag, "!") && n.Tag != "!!str" && !strings.HasPrefix(n.Tag, "!!") {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	return v, nil
}

func isString(v any) bool { _, ok := v.(string); return ok }

func splitGetAtt(a any) any {
	if s, ok := a.(string); ok {
		if i := strings.Index(s, "."); i > 0 {
			return []any{s[:i], s[i+1:]}
		}
	}
	return a
}

// Resources returns the template's resources.
func (t *Template) Resources() map[string]map[string]any {
	out := map[string]map[string]any{}
	rs, _ := t.Root["Resources"].(map[string]any)
	for id, r := range rs {
		if m, ok := r.(map[string]any); ok {
			out[id] = m
		}
	}
	return out
}

// OfType returns the logical IDs of the resources of type typ, sorted.
func (t *Template) OfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources() {
		if r["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Props returns the Properties of resource id.
func (t *Template) Props(id string) map[string]any {
	r := t.Resources()[id]
	p, _ := r["Properties"].(map[string]any)
	return p
}

// Get walks keys (map keys, or list indexes as decimal strings) from v.
func Get(v any, keys ...string) any {
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// Walk calls f on every value in v, depth first, with its path.
func Walk(v any, path string, f func(path string, v any)) {
	f(path, v)
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			Walk(x[k], path+"."+k, f)
		}
	case []any:
		for i, e := range x {
			Walk(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	case Intrinsic:
		Walk(x.Arg, path+"."+x.Name, f)
	}
}
