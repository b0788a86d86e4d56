package httpapi_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/httpapi/httpapitest"
)

// The benchmarks measure the handler in-process over the in-memory fakes:
// decoding, authentication, control and encoding, no network.

func BenchmarkGetDeployment(b *testing.B) {
	e := httpapitest.New(b)
	rec := e.Do("POST", "/v1/deployments", e.Alice, httpapitest.AllInOneSpec("site", "10.0.0.5"))
	if rec.Code != 201 {
		b.Fatal(rec.Body)
	}
	loc := rec.Header().Get("Location")
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", loc, nil)
		req.Header.Set("Authorization", "Bearer "+e.Alice)
		w := httptest.NewRecorder()
		e.API.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Body)
		}
	}
}

func BenchmarkCreateDeployment(b *testing.B) {
	e := httpapitest.New(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := httpapitest.AllInOneSpec(fmt.Sprintf("site-%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
		req := httptest.NewRequest("POST", "/v1/deployments", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.Alice)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("k-%d", i))
		w := httptest.NewRecorder()
		e.API.ServeHTTP(w, req)
		if w.Code != 201 {
			b.Fatal(w.Body)
		}
	}
}
