package playbook

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// PyString returns s as a single-quoted Python 3 str literal that is pure
// printable ASCII: quotes, backslashes, every control or non-ASCII
// character are escapes, so no value can end the literal or the line.
func PyString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\'':
			b.WriteString(`\'`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// PyLiteral returns v (a normalized setting value: string, bool, int64,
// float64 or []string) as a Python literal. Lists become tuples, as Eden's
// own 000_config.py writes them.
func PyLiteral(v any) (string, error) {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) {
			return "", fmt.Errorf("playbook: a setting string must be UTF-8")
		}
		return PyString(x), nil
	case bool:
		if x {
			return "True", nil
		}
		return "False", nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", fmt.Errorf("playbook: a setting number must be finite")
		}
		s := strconv.FormatFloat(x, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0" // 3.0 stays a float in Python
		}
		return s, nil
	case []string:
		var b strings.Builder
		b.WriteByte('(')
		for i, s := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if !utf8.ValidString(s) {
				return "", fmt.Errorf("playbook: a setting string must be UTF-8")
			}
			b.WriteString(PyString(s))
		}
		if len(x) == 1 {
			b.WriteByte(',')
		}
		b.WriteByte(')')
		return b.String(), nil
	}
	return "", fmt.Errorf("playbook: a setting of type %T cannot be written to 000_config.py", v)
}

// settingLine returns the 000_config.py line setting key to v.
func settingLine(key string, v any) (string, error) {
	if !settingKey(key) {
		return "", deploy.Invalid("settings."+key, "is not a dotted identifier")
	}
	lit, err := PyLiteral(v)
	if err != nil {
		return "", fmt.Errorf("settings.%s: %w", key, err)
	}
	return "settings." + key + " = " + lit, nil
}

// settingKey re-checks, as a defence in depth, that key is dotted Python
// identifiers made of ASCII letters, digits and underscores.
func settingKey(key string) bool {
	if key == "" || len(key) > 128 {
		return false
	}
	for _, part := range strings.Split(key, ".") {
		if part == "" || !(part[0] == '_' || isLetter(part[0])) || pyKeywords[part] {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c == '_' || isLetter(c) || (c >= '0' && c <= '9')) {
				return false
			}
		}
	}
	return strings.Contains(key, ".")
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

// pyKeywords are Python 3's keywords: `settings.base.class = 1` would not
// compile, so such a key is refused.
var pyKeywords = map[string]bool{
	"False":    true,
	"None":     true,
	"True":     true,
	"and":      true,
	"as":       true,
	"assert":   true,
	"async":    true,
	"await":    true,
	"break":    true,
	"class":    true,
	"continue": true,
	"def":      true,
	"del":      true,
	"elif":     true,
	"else":     true,
	"except":   true,
	"finally":  true,
	"for":      true,
	"from":     true,
	"global":   true,
	"if":       true,
	"import":   true,
	"in":       true,
	"is":       true,
	"lambda":   true,
	"nonlocal": true,
	"not":      true,
	"or":       true,
	"pass":     true,
	"raise":    true,
	"return":   true,
	"try":      true,
	"while":    true,
	"with":     true,
	"yield":    true,
}
