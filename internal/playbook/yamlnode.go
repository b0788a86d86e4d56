package playbook

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// The vars file is built as a yaml.Node tree so that every string carries
// the !unsafe tag (Ansible then never evaluates it as a Jinja template) and
// is written double-quoted: in that style yaml.v3 escapes every control,
// line-break and non-printable character, so any string reads back exactly
// (the fuzz test checks it).

func unsafeStr(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!unsafe", Value: s, Style: yaml.DoubleQuotedStyle}
}

func unsafeList(items []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, s := range items {
		n.Content = append(n.Content, unsafeStr(s))
	}
	return n
}

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(b)}
}

func intNode(i int64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(i, 10)}
}

// floatNode writes the tag explicitly: PyYAML (YAML 1.1) reads "1e-07"
// without a dot as a string unless the tag says float.
func floatNode(f float64) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(f, 'g', -1, 64), Style: yaml.TaggedStyle}
}

// mapping is an ordered YAML mapping under construction.
type mapping struct{ node *yaml.Node }

func newMapping() mapping { return mapping{&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}} }

func (m mapping) put(key string, v *yaml.Node) {
	m.node.Content = append(m.node.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func (m mapping) str(key, s string)           { m.put(key, unsafeStr(s)) }
func (m mapping) list(key string, s []string) { m.put(key, unsafeList(s)) }
func (m mapping) bool(key string, b bool)     { m.put(key, boolNode(b)) }
func (m mapping) int(key string, i int)       { m.put(key, intNode(int64(i))) }

// settingNode returns a normalized setting value as a node.
func settingNode(v any) (*yaml.Node, bool) {
	switch x := v.(type) {
	case string:
		return unsafeStr(x), true
	case bool:
		return boolNode(x), true
	case int64:
		return intNode(x), true
	case int:
		return intNode(int64(x)), true
	case float64:
		return floatNode(x), true
	case []string:
		return unsafeList(x), true
	}
	return nil, false
}
