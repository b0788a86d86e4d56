package asl

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"reflect"
	"strconv"
	"strings"
	"unicode"
)

// An expr is the value of a Parameters-style ".$" field: a path or an
// intrinsic function call. Literals appear only as intrinsic arguments.
type expr interface {
	eval(env *env) (any, error)
}

// env is what expressions see: the state's effective input ($) and the
// context object ($$).
type env struct {
	input any
	ctx   any
}

func (p *path) eval(e *env) (any, error) {
	root := e.input
	if p.context {
		root = e.ctx
	}
	v, ok := p.get(root)
	if !ok {
		return nil, runtimeErr("The JSONPath '%s' could not be found in the input '%s'", p.raw, encodeJSON(root))
	}
	return v, nil
}

type literal struct {
	value    any
	isString bool
	raw      string // for strings: the text between the quotes, escapes kept
}

func (l *literal) eval(*env) (any, error) { return l.value, nil }

type call struct {
	name string
	args []expr
	fn   intrinsic
}

type intrinsic struct {
	minArgs, maxArgs int // maxArgs -1: variadic
	run              func(c *call, args []any) (any, error)
}

var intrinsics map[string]intrinsic

func init() {
	intrinsics = map[string]intrinsic{
		"States.Format":         {1, -1, fnFormat},
		"States.StringToJson":   {1, 1, fnStringToJSON},
		"States.JsonToString":   {1, 1, fnJSONToString},
		"States.Array":          {0, -1, func(_ *call, a []any) (any, error) { return append([]any{}, a...), nil }},
		"States.ArrayPartition": {2, 2, fnArrayPartition},
		"States.ArrayContains":  {2, 2, fnArrayContains},
		"States.ArrayRange":     {3, 3, fnArrayRange},
		"States.ArrayGetItem":   {2, 2, fnArrayGetItem},
		"States.ArrayLength":    {1, 1, fnArrayLength},
		"States.ArrayUnique":    {1, 1, fnArrayUnique},
		"States.JsonMerge":      {3, 3, fnJSONMerge},
		"States.UUID":           {0, 0, fnUUID},
		"States.MathAdd":        {2, 2, fnMathAdd},
		"States.StringSplit":    {2, 2, fnStringSplit},
		"States.Hash":           {2, 2, fnHash},
		"States.Base64Encode":   {1, 1, fnBase64Encode},
		"States.Base64Decode":   {1, 1, fnBase64Decode},
	}
}

func (c *call) eval(e *env) (any, error) {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		v, err := a.eval(e)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	v, err := c.fn.run(c, args)
	if err != nil {
		if se, ok := err.(*stateError); ok {
			return nil, se
		}
		return nil, runtimeErr("%s: %v", c.name, err)
	}
	return v, nil
}

// parseExpr compiles the string value of a ".$" field.
func parseExpr(s string) (expr, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "$") {
		return parsePath(s)
	}
	if !strings.HasPrefix(s, "States.") {
		return nil, fmt.Errorf("%q is neither a path nor an intrinsic function", s)
	}
	p := &exprParser{src: s}
	x, err := p.parseCall()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("%q: unexpected %q after the call", s, p.src[p.pos:])
	}
	return x, nil
}

type exprParser struct {
	src string
	pos int
}

func (p *exprParser) skipSpace() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *exprParser) errorf(format string, args ...any) error {
	return fmt.Errorf("intrinsic %q at offset %d: %s", p.src, p.pos, fmt.Sprintf(format, args...))
}

func (p *exprParser) parseCall() (*call, error) {
	start := p.pos
	for p.pos < len(p.src) && (p.src[p.pos] == '.' || isIdent(rune(p.src[p.pos]))) {
		p.pos++
	}
	name := p.src[start:p.pos]
	fn, ok := intrinsics[name]
	if !ok {
		return nil, p.errorf("unsupported intrinsic function %s", name)
	}
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		return nil, p.errorf("expected ( after %s", name)
	}
	p.pos++
	c := &call{name: name, fn: fn}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			a, err := p.parseArg()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.skipSpace()
			if p.pos >= len(p.src) {
				return nil, p.errorf("missing )")
			}
			if p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			return nil, p.errorf("expected , or )")
		}
	}
	if len(c.args) < fn.minArgs || fn.maxArgs >= 0 && len(c.args) > fn.maxArgs {
		return nil, p.errorf("%s takes %s arguments, got %d", name, argCount(fn), len(c.args))
	}
	if name == "States.Format" {
		if l, ok := c.args[0].(*literal); !ok || !l.isString {
			return nil, p.errorf("the first argument of States.Format must be a string literal")
		}
	}
	return c, nil
}

func argCount(fn intrinsic) string {
	switch {
	case fn.maxArgs < 0:
		return fmt.Sprintf("at least %d", fn.minArgs)
	case fn.minArgs == fn.maxArgs:
		return strconv.Itoa(fn.minArgs)
	}
	return fmt.Sprintf("%d to %d", fn.minArgs, fn.maxArgs)
}

func isIdent(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

func (p *exprParser) parseArg() (expr, error) {
	if p.pos >= len(p.src) {
		return nil, p.errorf("missing argument")
	}
	switch c := p.src[p.pos]; {
	case c == '\'':
		return p.parseString()
	case c == '$':
		start := p.pos
		depth := 0
		for p.pos < len(p.src) {
			ch := p.src[p.pos]
			if ch == '[' {
				depth++
			} else if ch == ']' {
				depth--
			} else if depth == 0 && (ch == ',' || ch == ')' || ch == ' ') {
				break
			}
			p.pos++
		}
		return parsePath(p.src[start:p.pos])
	case strings.HasPrefix(p.src[p.pos:], "States."):
		return p.parseCall()
	default:
		start := p.pos
		for p.pos < len(p.src) && !strings.ContainsRune(", )", rune(p.src[p.pos])) {
			p.pos++
		}
		tok := p.src[start:p.pos]
		switch tok {
		case "true":
			return &literal{value: true}, nil
		case "false":
			return &literal{value: false}, nil
		case "null":
			return &literal{value: nil}, nil
		}
		if _, err := strconv.ParseFloat(tok, 64); err == nil {
			return &literal{value: json.Number(tok)}, nil
		}
		return nil, p.errorf("bad argument %q", tok)
	}
}

// parseString reads a single-quoted literal. \' \\ \{ \} are escapes; raw
// keeps them so States.Format can tell an escaped brace from a placeholder.
func (p *exprParser) parseString() (expr, error) {
	p.pos++ // opening quote
	var val, raw strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '\\':
			if p.pos+1 >= len(p.src) {
				return nil, p.errorf("dangling backslash")
			}
			n := p.src[p.pos+1]
			val.WriteByte(n)
			raw.WriteByte('\\')
			raw.WriteByte(n)
			p.pos += 2
			continue
		case '\'':
			p.pos++
			return &literal{value: val.String(), isString: true, raw: raw.String()}, nil
		}
		val.WriteByte(c)
		raw.WriteByte(c)
		p.pos++
	}
	return nil, p.errorf("unterminated string")
}

func fnFormat(c *call, args []any) (any, error) {
	tmpl := c.args[0].(*literal).raw
	var b strings.Builder
	next := 1
	for i := 0; i < len(tmpl); i++ {
		ch := tmpl[i]
		switch {
		case ch == '\\' && i+1 < len(tmpl):
			b.WriteByte(tmpl[i+1])
			i++
		case ch == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}':
			if next >= len(args) {
				return nil, fmt.Errorf("more placeholders than arguments")
			}
			v := args[next]
			next++
			switch x := v.(type) {
			case string:
				b.WriteString(x)
			case map[string]any, []any:
				return nil, fmt.Errorf("argument %d is a %s; only strings, numbers, booleans and null can be formatted", next-1, jsonType(v))
			default:
				b.Write(encodeJSON(x))
			}
			i++
		default:
			b.WriteByte(ch)
		}
	}
	if next != len(args) {
		return nil, fmt.Errorf("%d arguments for %d placeholders", len(args)-1, next-1)
	}
	return b.String(), nil
}

func fnStringToJSON(_ *call, a []any) (any, error) {
	s, ok := a[0].(string)
	if !ok {
		return nil, fmt.Errorf("argument is a %s, not a string", jsonType(a[0]))
	}
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	return v, nil
}

func fnJSONToString(_ *call, a []any) (any, error) { return string(encodeJSON(a[0])), nil }

func arrayArg(v any, which string) ([]any, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s argument is a %s, not an array", which, jsonType(v))
	}
	return a, nil
}

func intArg(v any, which string) (int64, error) {
	n, ok := integer(v)
	if !ok {
		return 0, fmt.Errorf("%s argument is not an integer: %s", which, encodeJSON(v))
	}
	return n, nil
}

func fnArrayPartition(_ *call, a []any) (any, error) {
	arr, err := arrayArg(a[0], "first")
	if err != nil {
		return nil, err
	}
	n, err := intArg(a[1], "second")
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("chunk size must be a positive integer")
	}
	out := []any{}
	for i := 0; i < len(arr); i += int(n) {
		out = append(out, append([]any{}, arr[i:min(len(arr), i+int(n))]...))
	}
	return out, nil
}

func fnArrayContains(_ *call, a []any) (any, error) {
	arr, err := arrayArg(a[0], "first")
	if err != nil {
		return nil, err
	}
	for _, v := range arr {
		if jsonEqual(v, a[1]) {
			return true, nil
		}
	}
	return false, nil
}

func fnArrayRange(_ *call, a []any) (any, error) {
	start, err := intArg(a[0], "first")
	if err != nil {
		return nil, err
	}
	end, err := intArg(a[1], "second")
	if err != nil {
		return nil, err
	}
	stepN, err := intArg(a[2], "third")
	if err != nil || stepN == 0 {
		return nil, fmt.Errorf("step must be a non-zero integer")
	}
	out := []any{}
	for i := start; (stepN > 0 && i <= end) || (stepN < 0 && i >= end); i += stepN {
		if len(out) >= 1000 {
			return nil, fmt.Errorf("range has more than 1000 items")
		}
		out = append(out, json.Number(strconv.FormatInt(i, 10)))
	}
	return out, nil
}

func fnArrayGetItem(_ *call, a []any) (any, error) {
	arr, err := arrayArg(a[0], "first")
	if err != nil {
		return nil, err
	}
	i, err := intArg(a[1], "second")
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(arr)) {
		return nil, fmt.Errorf("index %d out of range for an array of %d", i, len(arr))
	}
	return arr[i], nil
}

func fnArrayLength(_ *call, a []any) (any, error) {
	arr, err := arrayArg(a[0], "first")
	if err != nil {
		return nil, err
	}
	return json.Number(strconv.Itoa(len(arr))), nil
}

func fnArrayUnique(_ *call, a []any) (any, error) {
	arr, err := arrayArg(a[0], "first")
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, v := range arr {
		dup := false
		for _, u := range out {
			if jsonEqual(u, v) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out, nil
}

func fnJSONMerge(_ *call, a []any) (any, error) {
	l, ok1 := a[0].(map[string]any)
	r, ok2 := a[1].(map[string]any)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("both arguments must be objects")
	}
	deep, ok := a[2].(bool)
	if !ok {
		return nil, fmt.Errorf("third argument must be a boolean")
	}
	if deep {
		return nil, fmt.Errorf("deep merging is not supported (Step Functions accepts only false)")
	}
	out := make(map[string]any, len(l)+len(r))
	for k, v := range l {
		out[k] = v
	}
	for k, v := range r {
		out[k] = v
	}
	return out, nil
}

func fnUUID(*call, []any) (any, error) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func fnMathAdd(_ *call, a []any) (any, error) {
	x, err := intArg(a[0], "first")
	if err != nil {
		return nil, err
	}
	y, err := intArg(a[1], "second")
	if err != nil {
		return nil, err
	}
	return json.Number(strconv.FormatInt(x+y, 10)), nil
}

func fnStringSplit(_ *call, a []any) (any, error) {
	s, ok1 := a[0].(string)
	d, ok2 := a[1].(string)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("both arguments must be strings")
	}
	// Step Functions splits on any of the delimiter's characters and drops
	// empty pieces.
	parts := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(d, r) })
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func fnHash(_ *call, a []any) (any, error) {
	s, ok := a[0].(string)
	if !ok {
		return nil, fmt.Errorf("first argument must be a string")
	}
	alg, _ := a[1].(string)
	var h hash.Hash
	switch alg {
	case "MD5":
		h = md5.New()
	case "SHA-1":
		h = sha1.New()
	case "SHA-256":
		h = sha256.New()
	case "SHA-384":
		h = sha512.New384()
	case "SHA-512":
		h = sha512.New()
	default:
		return nil, fmt.Errorf("unknown algorithm %q", alg)
	}
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil)), nil
}

func fnBase64Encode(_ *call, a []any) (any, error) {
	s, ok := a[0].(string)
	if !ok {
		return nil, fmt.Errorf("argument must be a string")
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func fnBase64Decode(_ *call, a []any) (any, error) {
	s, ok := a[0].(string)
	if !ok {
		return nil, fmt.Errorf("argument must be a string")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// jsonEqual compares two JSON values, numbers by value.
func jsonEqual(a, b any) bool {
	if x, ok := number(a); ok {
		y, ok := number(b)
		return ok && x == y
	}
	return reflect.DeepEqual(a, b)
}
