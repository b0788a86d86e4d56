package asl

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A path is a compiled JSONPath: "$" (the state's data) or "$$" (the
// context object) followed by child names, indexes, slices and wildcards.
// Filters, unions and deep scan are not supported and are refused at Load.
type path struct {
	raw      string
	context  bool // starts with $$
	segs     []seg
	definite bool // selects at most one node (no wildcard or slice)
}

type segKind int

const (
	segName segKind = iota
	segIndex
	segWildcard
	segSlice
)

type seg struct {
	kind       segKind
	name       string
	index      int
	start, end *int
}

func parsePath(s string) (*path, error) {
	p := &path{raw: s, definite: true}
	rest := ""
	switch {
	case strings.HasPrefix(s, "$$"):
		p.context, rest = true, s[2:]
	case strings.HasPrefix(s, "$"):
		rest = s[1:]
	default:
		return nil, fmt.Errorf("path %q does not start with $", s)
	}
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, ".."):
			return nil, fmt.Errorf("path %q: deep scan (..) is not supported", s)
		case rest[0] == '.':
			rest = rest[1:]
			i := strings.IndexAny(rest, ".[")
			if i < 0 {
				i = len(rest)
			}
			name := rest[:i]
			rest = rest[i:]
			if name == "" {
				return nil, fmt.Errorf("path %q: empty name", s)
			}
			if name == "*" {
				p.segs = append(p.segs, seg{kind: segWildcard})
				p.definite = false
				continue
			}
			p.segs = append(p.segs, seg{kind: segName, name: name})
		case rest[0] == '[':
			if len(rest) > 1 && (rest[1] == '\'' || rest[1] == '"') {
				q := rest[1]
				end := strings.IndexByte(rest[2:], q)
				if end < 0 || len(rest) < end+4 || rest[end+3] != ']' {
					return nil, fmt.Errorf("path %q: unterminated bracket name", s)
				}
				p.segs = append(p.segs, seg{kind: segName, name: rest[2 : end+2]})
				rest = rest[end+4:]
				continue
			}
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: missing ]", s)
			}
			in := strings.TrimSpace(rest[1:end])
			rest = rest[end+1:]
			switch {
			case in == "*":
				p.segs = append(p.segs, seg{kind: segWildcard})
				p.definite = false
			case strings.HasPrefix(in, "?"):
				return nil, fmt.Errorf("path %q: filter expressions are not supported", s)
			case strings.Contains(in, ","):
				return nil, fmt.Errorf("path %q: unions are not supported", s)
			case strings.Contains(in, ":"):
				parts := strings.Split(in, ":")
				if len(parts) != 2 {
					return nil, fmt.Errorf("path %q: slice steps are not supported", s)
				}
				sg := seg{kind: segSlice}
				for i, part := range parts {
					if part = strings.TrimSpace(part); part == "" {
						continue
					}
					n, err := strconv.Atoi(part)
					if err != nil {
						return nil, fmt.Errorf("path %q: bad slice bound %q", s, part)
					}
					if i == 0 {
						sg.start = &n
					} else {
						sg.end = &n
					}
				}
				p.segs = append(p.segs, sg)
				p.definite = false
			default:
				n, err := strconv.Atoi(in)
				if err != nil {
					return nil, fmt.Errorf("path %q: bad index %q", s, in)
				}
				p.segs = append(p.segs, seg{kind: segIndex, index: n})
			}
		default:
			return nil, fmt.Errorf("path %q: unexpected %q", s, rest[:1])
		}
	}
	return p, nil
}

// parseReferencePath parses a path that must select a single node of the
// state's data (ResultPath, ItemsPath, ...).
func parseReferencePath(s string) (*path, error) {
	p, err := parsePath(s)
	if err != nil {
		return nil, err
	}
	if p.context {
		return nil, fmt.Errorf("path %q: a reference path cannot use the context object", s)
	}
	if !p.definite {
		return nil, fmt.Errorf("path %q: a reference path must select a single node", s)
	}
	return p, nil
}

func (p *path) String() string { return p.raw }

// get selects from data. A definite path that selects nothing returns
// ok=false; an indefinite one returns the (possibly empty) list of matches.
func (p *path) get(data any) (any, bool) {
	if p.definite {
		cur := data
		for _, s := range p.segs {
			next, ok := step(cur, s)
			if !ok {
				return nil, false
			}
			cur = next
		}
		return cur, true
	}
	nodes := []any{data}
	for _, s := range p.segs {
		var out []any
		for _, n := range nodes {
			switch s.kind {
			case segWildcard:
				switch v := n.(type) {
				case map[string]any:
					for _, k := range sortedKeys(v) {
						out = append(out, v[k])
					}
				case []any:
					out = append(out, v...)
				}
			case segSlice:
				if a, ok := n.([]any); ok {
					lo, hi := 0, len(a)
					if s.start != nil {
						lo = clampIndex(*s.start, len(a))
					}
					if s.end != nil {
						hi = clampIndex(*s.end, len(a))
					}
					if lo < hi {
						out = append(out, a[lo:hi]...)
					}
				}
			default:
				if v, ok := step(n, s); ok {
					out = append(out, v)
				}
			}
		}
		nodes = out
	}
	if nodes == nil {
		nodes = []any{}
	}
	return nodes, true
}

func clampIndex(i, n int) int {
	if i < 0 {
		i += n
	}
	return max(0, min(i, n))
}

func step(cur any, s seg) (any, bool) {
	switch s.kind {
	case segName:
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok := m[s.name]
		return v, ok
	case segIndex:
		a, ok := cur.([]any)
		if !ok {
			return nil, false
		}
		i := s.index
		if i < 0 {
			i += len(a)
		}
		if i < 0 || i >= len(a) {
			return nil, false
		}
		return a[i], true
	}
	return nil, false
}

// set returns a copy of root with value placed at the path, creating
// missing objects on the way, as ResultPath does. Nodes off the path are
// shared, not copied: values are never mutated in place.
func (p *path) set(root, value any) (any, error) {
	return setAt(root, p.segs, value, p.raw)
}

func setAt(cur any, segs []seg, value any, raw string) (any, error) {
	if len(segs) == 0 {
		return value, nil
	}
	s := segs[0]
	switch s.kind {
	case segName:
		var m map[string]any
		switch v := cur.(type) {
		case map[string]any:
			m = v
		case nil:
			m = nil
		default:
			return nil, fmt.Errorf("ResultPath %s: cannot set field %q on a %s", raw, s.name, jsonType(cur))
		}
		child, err := setAt(m[s.name], segs[1:], value, raw)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m)+1)
		for k, v := range m {
			out[k] = v
		}
		out[s.name] = child
		return out, nil
	case segIndex:
		a, ok := cur.([]any)
		i := s.index
		if ok && i < 0 {
			i += len(a)
		}
		if !ok || i < 0 || i >= len(a) {
			return nil, fmt.Errorf("ResultPath %s: index %d does not exist", raw, s.index)
		}
		child, err := setAt(a[i], segs[1:], value, raw)
		if err != nil {
			return nil, err
		}
		out := append([]any(nil), a...)
		out[i] = child
		return out, nil
	}
	return nil, fmt.Errorf("ResultPath %s: not a reference path", raw)
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, int:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}
