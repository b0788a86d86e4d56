package playbook

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// parseSettingLine reads back a line made by settingLine: "settings.",
// a dotted key, " = " and a Python literal of the subset PyLiteral writes
// (single-quoted str with escapes, True/False, int, float, tuple of str).
// It is strict: anything else is an error, so the fuzzer finds any line
// that Python could read differently.
func parseSettingLine(line string) (key string, v any, err error) {
	rest, ok := strings.CutPrefix(line, "settings.")
	if !ok {
		return "", nil, fmt.Errorf("no settings. prefix")
	}
	key, lit, ok := strings.Cut(rest, " = ")
	if !ok || !settingKey(key) {
		return "", nil, fmt.Errorf("bad key in %q", line)
	}
	p := &pyParser{s: lit}
	v, err = p.value()
	if err != nil {
		return "", nil, err
	}
	if p.i != len(p.s) {
		return "", nil, fmt.Errorf("trailing text %q", p.s[p.i:])
	}
	return key, v, nil
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) value() (any, error) {
	switch {
	case strings.HasPrefix(p.s[p.i:], "'"):
		return p.str()
	case strings.HasPrefix(p.s[p.i:], "("):
		return p.tuple()
	case strings.HasPrefix(p.s[p.i:], "True"):
		p.i += 4
		return true, nil
	case strings.HasPrefix(p.s[p.i:], "False"):
		p.i += 5
		return false, nil
	}
	j := p.i
	for j < len(p.s) && strings.IndexByte("+-0123456789.eE", p.s[j]) >= 0 {
		j++
	}
	num := p.s[p.i:j]
	p.i = j
	if strings.ContainsAny(num, ".eE") {
		f, err := strconv.ParseFloat(num, 64)
		return f, err
	}
	n, err := strconv.ParseInt(num, 10, 64)
	return n, err
}

func (p *pyParser) tuple() (any, error) {
	p.i++ // (
	out := []string{}
	for {
		if strings.HasPrefix(p.s[p.i:], ")") {
			p.i++
			if len(out) == 1 {
				return nil, fmt.Errorf("a one-item tuple needs a comma")
			}
			return out, nil
		}
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		switch {
		case strings.HasPrefix(p.s[p.i:], ",)") && len(out) == 1:
			p.i += 2
			return out, nil
		case strings.HasPrefix(p.s[p.i:], ", "):
			p.i += 2
		case strings.HasPrefix(p.s[p.i:], ")"):
		default:
			return nil, fmt.Errorf("bad tuple at %d", p.i)
		}
	}
}

func (p *pyParser) str() (string, error) {
	if !strings.HasPrefix(p.s[p.i:], "'") {
		return "", fmt.Errorf("want a string at %d", p.i)
	}
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\'':
			p.i++
			return b.String(), nil
		case c == '\n' || c == '\r':
			return "", fmt.Errorf("raw line break in a string")
		case c < 0x20 || c >= 0x7f:
			return "", fmt.Errorf("raw non-ASCII or control byte %#x in a string", c)
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", fmt.Errorf("dangling backslash")
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case '\\', '\'':
			b.WriteByte(e)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if p.i+n > len(p.s) {
				return "", fmt.Errorf("short \\%c escape", e)
			}
			r, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
			if err != nil || r > utf8.MaxRune || (r >= 0xd800 && r < 0xe000) {
				return "", fmt.Errorf("bad \\%c escape", e)
			}
			p.i += n
			b.WriteRune(rune(r))
		default:
			return "", fmt.Errorf("escape \\%c is not one PyLiteral writes", e)
		}
	}
	return "", fmt.Errorf("unterminated string")
}
