package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// decode reads c.body, which must be one JSON object with no unknown
// fields, into v. Its errors name the field at fault and never repeat a
// value from the body (it may hold a private key).
func decode(c *call, v any) error {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return badRequest("", "a JSON body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", "the body must hold one JSON value, with nothing after it")
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return badRequest("", "malformed JSON at byte "+strconv.FormatInt(syn.Offset, 10))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "the JSON body ends too early")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return badRequest("", "the body must be a JSON object")
		}
		return badRequest(field, "must be "+jsonKind(typ.Type.Kind().String()))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return badRequest(name, "is not a known field")
	}
	return badRequest("", "the body is not valid JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr", "interface":
		return "an object"
	}
	return "a number"
}

// pageOf reads the cursor and limit query parameters.
func pageOf(r *http.Request) (deploy.Page, error) {
	q := r.URL.Query()
	p := deploy.Page{Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return p, badRequest("limit", "must be a whole number from 1 to 100")
		}
		p.Limit = n
	}
	if len(p.Cursor) > 1024 {
		return p, badRequest("cursor", "is not a cursor this API returned")
	}
	return p, nil
}
