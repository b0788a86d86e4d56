// Package openapitest checks HTTP responses against an OpenAPI 3.1
// document, so that the API's own tests and end-to-end tests can assert that
// what the server sends is what the document promises.
//
// It implements the subset of JSON Schema that Eden Deploy's document uses:
// type (one or a list, "null" included), enum, required, properties,
// additionalProperties (false or a schema), unevaluatedProperties: false
// (over properties and allOf branches), items, allOf, anyOf, oneOf, $ref
// (local JSON pointers), minimum, maximum, maxLength and format date-time.
// A keyword it does not know is an error, so the document cannot silently
// promise more than is checked.
package openapitest

import (
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// Doc is a parsed OpenAPI document.
type Doc struct {
	root map[string]any
}

// Parse parses an OpenAPI document (YAML or JSON).
func Parse(src []byte) (*Doc, error) {
	var root map[string]any
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, fmt.Errorf("openapitest: parse: %w", err)
	}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		return nil, fmt.Errorf("openapitest: not an OpenAPI 3.1 document (openapi: %v)", root["openapi"])
	}
	return &Doc{root: root}, nil
}

// MustParse parses src or fails t.
func MustParse(t testing.TB, src []byte) *Doc {
	t.Helper()
	d, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Operation is a method and path template of the document.
type Operation struct{ Method, Path string }

var methods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// Operations lists every operation of the document, sorted.
func (d *Doc) Operations() []Operation {
	var out []Operation
	paths, _ := d.root["paths"].(map[string]any)
	for p, item := range paths {
		m, _ := item.(map[string]any)
		for _, method := range methods {
			if _, ok := m[method]; ok {
				out = append(out, Operation{strings.ToUpper(method), p})
			}
		}
	}
	slices.SortFunc(out, func(a, b Operation) int {
		return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
	})
	return out
}

// Validate fails t unless body (with the response's Content-Type, if
// known, in contentType; "" to infer it) is what the document promises for
// method, path template and status.
func Validate(t testing.TB, doc *Doc, method, path string, status int, body []byte) {
	t.Helper()
	if err := doc.Check(method, path, status, "", body); err != nil {
		t.Errorf("%s %s → %d: %v\nbody: %s", method, path, status, err, truncate(body))
	}
}

// ValidateResponse is Validate for a recorded response, with its
// Content-Type.
func ValidateResponse(t testing.TB, doc *Doc, method, path string, status int, header http.Header, body []byte) {
	t.Helper()
	if err := doc.Check(method, path, status, header.Get("Content-Type"), body); err != nil {
		t.Errorf("%s %s → %d: %v\nbody: %s", method, path, status, err, truncate(body))
	}
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

// Check returns why the response does not match the document, or nil.
func (d *Doc) Check(method, path string, status int, contentType string, body []byte) error {
	op, err := d.operation(method, path)
	if err != nil {
		return err
	}
	responses, _ := op["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)]
	if !ok {
		resp, ok = responses["default"]
	}
	if !ok {
		return fmt.Errorf("status %d is not documented", status)
	}
	respMap, err := d.resolveMap(resp)
	if err != nil {
		return err
	}
	content, _ := respMap["content"].(map[string]any)
	if len(content) == 0 {
		if len(body) != 0 {
			return fmt.Errorf("the document promises no body, got %d bytes", len(body))
		}
		return nil
	}
	mt := ""
	if contentType != "" {
		mt, _, _ = mime.ParseMediaType(contentType)
	}
	if mt == "" {
		switch {
		case content["application/json"] != nil:
			mt = "application/json"
		case content["application/problem+json"] != nil:
			mt = "application/problem+json"
		default:
			for k := range content {
				mt = k
			}
		}
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		return fmt.Errorf("content type %q is not documented", mt)
	}
	schema, ok := media["schema"]
	if !ok || !strings.HasSuffix(mt, "json") {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %v", err)
	}
	return d.CheckValue(schema, v)
}

// CheckSchema checks a decoded JSON value against a named schema of
// components/schemas.
func (d *Doc) CheckSchema(name string, v any) error {
	return d.CheckValue(map[string]any{"$ref": "#/components/schemas/" + name}, v)
}

// CheckValue checks a decoded JSON value (as encoding/json decodes into
// any) against schema.
func (d *Doc) CheckValue(schema any, v any) error {
	var errs []string
	d.validate(schema, v, "$", &errs, 0)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func (d *Doc) operation(method, path string) (map[string]any, error) {
	paths, _ := d.root["paths"].(map[string]any)
	item, ok := paths[path].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("path %s is not documented", path)
	}
	op, ok := item[strings.ToLower(method)].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s %s is not documented", method, path)
	}
	return op, nil
}

// resolveMap follows $ref until it reaches a map.
func (d *Doc) resolveMap(v any) (map[string]any, error) {
	for range 20 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("not an object: %v", v)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		target, err := d.pointer(ref)
		if err != nil {
			return nil, err
		}
		v = target
	}
	return nil, fmt.Errorf("$ref chain too long")
}

func (d *Doc) pointer(ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("only local $ref is supported: %s", ref)
	}
	var cur any = d.root
	for _, part := range strings.Split(p, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %s does not resolve", ref)
		}
		cur, ok = m[part]
		if !ok {
			return nil, fmt.Errorf("$ref %s does not resolve", ref)
		}
	}
	return cur, nil
}

// Refs returns every $ref of the document that does not resolve.
func (d *Doc) Refs() []string {
	var bad []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, err := d.pointer(ref); err != nil {
					bad = append(bad, ref)
				}
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(d.root)
	return bad
}

// Annotations and keywords with no effect on validation.
var ignored = map[string]bool{
	"description": true, "summary": true, "title": true, "examples": true, "example": true,
	"default": true, "writeOnly": true, "readOnly": true, "deprecated": true,
}

func (d *Doc) validate(schema any, v any, at string, errs *[]string, depth int) {
	if depth > 64 {
		*errs = append(*errs, at+": schema nests too deep")
		return
	}
	s, ok := schema.(map[string]any)
	if !ok {
		if b, isBool := schema.(bool); isBool {
			if !b {
				*errs = append(*errs, at+": no value is allowed here")
			}
			return
		}
		*errs = append(*errs, fmt.Sprintf("%s: bad schema %v", at, schema))
		return
	}
	fail := func(format string, args ...any) {
		*errs = append(*errs, at+": "+fmt.Sprintf(format, args...))
	}
	for k := range s {
		switch k {
		case "$ref", "allOf", "anyOf", "oneOf", "type", "enum", "required", "properties",
			"additionalProperties", "unevaluatedProperties", "items", "format",
			"minimum", "maximum", "maxLength":
		default:
			if !ignored[k] {
				fail("schema keyword %q is not supported by openapitest", k)
			}
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		target, err := d.pointer(ref)
		if err != nil {
			fail("%v", err)
			return
		}
		d.validate(target, v, at, errs, depth+1)
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			d.validate(sub, v, at, errs, depth+1)
		}
	}
	if any_, ok := s["anyOf"].([]any); ok {
		if d.matching(any_, v, at, depth) == 0 {
			fail("matches none of anyOf")
		}
	}
	if one, ok := s["oneOf"].([]any); ok {
		if n := d.matching(one, v, at, depth); n != 1 {
			fail("matches %d of oneOf, want exactly 1", n)
		}
	}
	if t, ok := s["type"]; ok {
		var types []string
		switch x := t.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, y := range x {
				ys, _ := y.(string)
				types = append(types, ys)
			}
		}
		if !slices.ContainsFunc(types, func(t string) bool { return hasType(v, t) }) {
			fail("is %s, want %s", typeName(v), strings.Join(types, " or "))
			return
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		if !slices.ContainsFunc(enum, func(e any) bool { return sameValue(e, v) }) {
			fail("%v is not one of %v", v, enum)
		}
	}
	switch x := v.(type) {
	case map[string]any:
		d.validateObject(s, x, at, errs, depth)
	case []any:
		if items, ok := s["items"]; ok {
			for i, y := range x {
				d.validate(items, y, fmt.Sprintf("%s[%d]", at, i), errs, depth+1)
			}
		}
	case string:
		if f, _ := s["format"].(string); f == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
				fail("%q is not a date-time", x)
			}
		}
		if n, ok := number(s["maxLength"]); ok && float64(len([]rune(x))) > n {
			fail("longer than %v", n)
		}
	case float64:
		if n, ok := number(s["minimum"]); ok && x < n {
			fail("%v is below %v", x, n)
		}
		if n, ok := number(s["maximum"]); ok && x > n {
			fail("%v is above %v", x, n)
		}
	}
}

func (d *Doc) validateObject(s map[string]any, x map[string]any, at string, errs *[]string, depth int) {
	props, _ := s["properties"].(map[string]any)
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			name, _ := r.(string)
			if _, ok := x[name]; !ok {
				*errs = append(*errs, fmt.Sprintf("%s: required property %q is missing", at, name))
			}
		}
	}
	for k, y := range x {
		if ps, ok := props[k]; ok {
			d.validate(ps, y, at+"."+k, errs, depth+1)
			continue
		}
		if ap, ok := s["additionalProperties"]; ok {
			d.validate(ap, y, at+"."+k, errs, depth+1)
		}
	}
	if up, ok := s["unevaluatedProperties"]; ok {
		if b, _ := up.(bool); b {
			return
		}
		known := map[string]bool{}
		d.collectProperties(s, known, 0)
		for k := range x {
			if !known[k] {
				*errs = append(*errs, fmt.Sprintf("%s: property %q is not documented", at, k))
			}
		}
	}
}

// collectProperties gathers the property names s and its allOf branches
// evaluate (the subset of unevaluatedProperties this package supports).
func (d *Doc) collectProperties(s any, into map[string]bool, depth int) {
	if depth > 32 {
		return
	}
	m, err := d.resolveMap(s)
	if err != nil {
		return
	}
	props, _ := m["properties"].(map[string]any)
	for k := range props {
		into[k] = true
	}
	if all, ok := m["allOf"].([]any); ok {
		for _, sub := range all {
			d.collectProperties(sub, into, depth+1)
		}
	}
}

func (d *Doc) matching(schemas []any, v any, at string, depth int) int {
	n := 0
	for _, sub := range schemas {
		var errs []string
		d.validate(sub, v, at, &errs, depth+1)
		if len(errs) == 0 {
			n++
		}
	}
	return n
}

func hasType(v any, t string) bool {
	switch t {
	case "null":
		return v == nil
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	}
	return false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// sameValue compares an enum member (decoded from YAML) with a JSON value.
func sameValue(e, v any) bool {
	if n, ok := number(e); ok {
		f, isNum := v.(float64)
		return isNum && f == n
	}
	return reflect.DeepEqual(e, v)
}
