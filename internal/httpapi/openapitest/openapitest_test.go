package openapitest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/httpapi/openapitest"
)

const spec = `
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /things/{id}:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Thing"}
        "204": {description: none}
        default:
          description: problem
          content:
            application/problem+json:
              schema: {type: object, required: [status]}
components:
  schemas:
    Thing:
      type: object
      required: [id, kind]
      properties:
        id: {type: string}
        kind: {type: string, enum: [a, b]}
        at: {type: string, format: date-time}
        n: {type: integer, minimum: 0}
        tags: {type: [array, "null"], items: {type: string}}
        child:
          oneOf:
            - $ref: "#/components/schemas/Thing"
            - type: "null"
      additionalProperties: false
    Wide:
      allOf:
        - $ref: "#/components/schemas/Base"
        - type: object
          properties:
            extra: {type: boolean}
      unevaluatedProperties: false
    Base:
      type: object
      required: [id]
      properties:
        id: {type: string}
`

func TestCheck(t *testing.T) {
	doc, err := openapitest.Parse([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		status int
		body   string
		bad    string // "" when valid; else a substring of the error
	}{
		{"valid", 200, `{"id":"x","kind":"a","at":"2025-01-01T00:00:00Z","n":3,"tags":null,"child":{"id":"y","kind":"b"}}`, ""},
		{"missing required", 200, `{"id":"x"}`, `"kind" is missing`},
		{"enum", 200, `{"id":"x","kind":"c"}`, "not one of"},
		{"extra property", 200, `{"id":"x","kind":"a","zz":1}`, "no value is allowed"},
		{"wrong type", 200, `{"id":1,"kind":"a"}`, "want string"},
		{"not integer", 200, `{"id":"x","kind":"a","n":1.5}`, "want integer"},
		{"minimum", 200, `{"id":"x","kind":"a","n":-1}`, "below"},
		{"date-time", 200, `{"id":"x","kind":"a","at":"yesterday"}`, "not a date-time"},
		{"nested via ref", 200, `{"id":"x","kind":"a","child":{"id":"y"}}`, "oneOf"},
		{"items", 200, `{"id":"x","kind":"a","tags":[1]}`, "tags[0]"},
		{"undocumented status uses default", 500, `{"status":500}`, ""},
		{"no body promised", 204, `{}`, "no body"},
		{"not JSON", 200, `{`, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := doc.Check("GET", "/things/{id}", tt.status, "", []byte(tt.body))
			switch {
			case tt.bad == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad)):
				t.Errorf("error %v, want one mentioning %q", err, tt.bad)
			}
		})
	}
	if err := doc.Check("POST", "/things/{id}", 200, "", nil); err == nil {
		t.Errorf("an undocumented operation passed")
	}
	if err := doc.Check("GET", "/things/{id}", 200, "text/plain", []byte("x")); err == nil {
		t.Errorf("an undocumented content type passed")
	}
	for body, ok := range map[string]bool{`{"id":"x","extra":true}`: true, `{"id":"x","other":1}`: false} {
		var v any
		_ = json.Unmarshal([]byte(body), &v)
		if err := doc.CheckSchema("Wide", v); (err == nil) != ok {
			t.Errorf("Wide %s: %v", body, err)
		}
	}
	if got := doc.Operations(); len(got) != 1 || got[0] != (openapitest.Operation{Method: "GET", Path: "/things/{id}"}) {
		t.Errorf("operations %v", got)
	}
}

func TestUnsupportedKeyword(t *testing.T) {
	doc, err := openapitest.Parse([]byte(strings.Replace(spec, "n: {type: integer, minimum: 0}", "n: {type: integer, multipleOf: 2}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	err = doc.Check("GET", "/things/{id}", 200, "", []byte(`{"id":"x","kind":"a","n":2}`))
	if err == nil || !strings.Contains(err.Error(), "multipleOf") {
		t.Errorf("error %v, want one naming multipleOf", err)
	}
}
