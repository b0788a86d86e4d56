package paramstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/secrets/paramstore"
	"github.com/edendeploy/edendeploy/internal/secrets/secrettest"
)

// fakeSSM is Parameter Store as its API documents it (awsJson1.1): it
// checks the target, the content type and that each body has only the
// documented members, keeps parameters in memory, and answers with the
// documented shapes and error __types.
type fakeSSM struct {
	t      *testing.T
	mu     sync.Mutex
	params map[string]param
	calls  []call
}

type param struct {
	Value, Type, KeyID, Tier string
	Version                  int
}

type call struct {
	Target string
	Body   map[string]any
}

var documented = map[string][]string{
	"AmazonSSM.PutParameter":        {"Name", "Value", "Type", "KeyId", "Overwrite", "Tier", "Description", "AllowedPattern", "Tags", "Policies", "DataType"},
	"AmazonSSM.GetParameter":        {"Name", "WithDecryption"},
	"AmazonSSM.GetParametersByPath": {"Path", "Recursive", "WithDecryption", "MaxResults", "NextToken", "ParameterFilters"},
	"AmazonSSM.DeleteParameters":    {"Names"},
}

func (f *fakeSSM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.t.Errorf("%s: Content-Type %q", target, ct)
	}
	allowed, ok := documented[target]
	if !ok || r.Method != http.MethodPost || r.URL.Path != "/" {
		f.t.Errorf("unexpected request %s %s target %q", r.Method, r.URL.Path, target)
		fail(400, "UnknownOperationException", target)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		f.t.Errorf("%s: body %q: %v", target, raw, err)
	}
	for k := range body {
		if !contains(allowed, k) {
			f.t.Errorf("%s: undocumented member %q in %s", target, k, raw)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{target, body})
	str := func(k string) string { s, _ := body[k].(string); return s }
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(v)
	}
	switch target {
	case "AmazonSSM.PutParameter":
		name := str("Name")
		old, exists := f.params[name]
		if exists && body["Overwrite"] != true {
			fail(400, "ParameterAlreadyExists", "The parameter already exists.")
			return
		}
		if len(str("Value")) > 8192 {
			fail(400, "ParameterMaxVersionLimitExceeded", "too big")
			return
		}
		f.params[name] = param{Value: str("Value"), Type: str("Type"), KeyID: str("KeyId"), Tier: str("Tier"), Version: old.Version + 1}
		reply(map[string]any{"Version": old.Version + 1, "Tier": "Standard"})
	case "AmazonSSM.GetParameter":
		p, ok := f.params[str("Name")]
		if !ok {
			fail(400, "ParameterNotFound", "")
			return
		}
		v := p.Value
		if body["WithDecryption"] != true && p.Type == "SecureString" {
			v = "AQICAHencrypted"
		}
		reply(map[string]any{"Parameter": map[string]any{
			"Name": str("Name"), "Type": p.Type, "Value": v, "Version": p.Version, "DataType": "text",
			"ARN": "arn:aws:ssm:us-east-1:123456789012:parameter" + str("Name"),
		}})
	case "AmazonSSM.GetParametersByPath":
		path := strings.TrimSuffix(str("Path"), "/") + "/"
		var names []string
		for n := range f.params {
			if strings.HasPrefix(n, path) && (body["Recursive"] == true || !strings.Contains(n[len(path):], "/")) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		max := 10
		if m, ok := body["MaxResults"].(float64); ok {
			if m > 10 {
				fail(400, "ValidationException", "MaxResults must be at most 10")
				return
			}
			max = int(m)
		}
		start, _ := strconv.Atoi(str("NextToken"))
		end := min(start+max, len(names))
		var ps []map[string]any
		for _, n := range names[start:end] {
			ps = append(ps, map[string]any{"Name": n, "Type": f.params[n].Type, "Value": "AQICAHencrypted", "Version": f.params[n].Version})
		}
		out := map[string]any{"Parameters": ps}
		if end < len(names) {
			out["NextToken"] = strconv.Itoa(end)
		}
		reply(out)
	case "AmazonSSM.DeleteParameters":
		ns, _ := body["Names"].([]any)
		if len(ns) == 0 || len(ns) > 10 {
			fail(400, "ValidationException", "Names must have 1 to 10 members")
			return
		}
		deleted, invalid := []string{}, []string{}
		for _, n := range ns {
			s := n.(string)
			if _, ok := f.params[s]; ok {
				delete(f.params, s)
				deleted = append(deleted, s)
			} else {
				invalid = append(invalid, s)
			}
		}
		reply(map[string]any{"DeletedParameters": deleted, "InvalidParameters": invalid})
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func newStore(t *testing.T, cfg paramstore.Config) (*paramstore.Store, *fakeSSM) {
	t.Helper()
	f := &fakeSSM{t: t, params: map[string]param{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := ssm.New(ssm.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(srv.URL),
		HTTPClient:   srv.Client(),
	})
	s, err := paramstore.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, f
}

func TestConformance(t *testing.T) {
	secrettest.Run(t, func(t *testing.T) deploy.Secrets {
		s, _ := newStore(t, paramstore.Config{Prefix: "/eden"})
		return s
	})
}

func TestRequests(t *testing.T) {
	s, f := newStore(t, paramstore.Config{Prefix: "/eden/prod", KMSKeyID: "alias/eden"})
	ctx := context.Background()
	if err := s.PutSecret(ctx, "d-1", deploy.SecretDBPassword, []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSecret(ctx, "d-1", deploy.SecretDBPassword); err != nil {
		t.Fatal(err)
	}
	for i := range 11 {
		if err := s.PutSecret(ctx, "d-1", fmt.Sprintf("s%02d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	f.calls = nil
	if err := s.DeleteSecrets(ctx, "d-1"); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, c := range f.calls {
		targets = append(targets, c.Target)
	}
	want := []string{"AmazonSSM.GetParametersByPath", "AmazonSSM.GetParametersByPath", "AmazonSSM.DeleteParameters", "AmazonSSM.DeleteParameters"}
	if d := cmp.Diff(want, targets); d != "" {
		t.Errorf("DeleteSecrets calls (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]any{"Path": "/eden/prod/d-1", "Recursive": true, "WithDecryption": false, "MaxResults": float64(10)}, f.calls[0].Body); d != "" {
		t.Errorf("GetParametersByPath body (-want +got):\n%s", d)
	}

	f.calls = nil
	if err := s.PutSecret(ctx, "d-2", deploy.SecretSSHKey, []byte("key\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSecret(ctx, "d-2", deploy.SecretSSHKey); err != nil {
		t.Fatal(err)
	}
	wantBodies := []call{
		{"AmazonSSM.PutParameter", map[string]any{"Name": "/eden/prod/d-2/ssh-private-key", "Value": "key\n", "Type": "SecureString",
			"KeyId": "alias/eden", "Overwrite": true, "Tier": "Intelligent-Tiering"}},
		{"AmazonSSM.GetParameter", map[string]any{"Name": "/eden/prod/d-2/ssh-private-key", "WithDecryption": true}},
	}
	if d := cmp.Diff(wantBodies, f.calls); d != "" {
		t.Errorf("Put/Get requests (-want +got):\n%s", d)
	}
}

func TestRefusals(t *testing.T) {
	for _, p := range []string{"", "eden", "/eden/", "//x"} {
		if _, err := paramstore.New(&ssm.Client{}, paramstore.Config{Prefix: p}); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("prefix %q: %v, want Invalid", p, err)
		}
	}
	s, _ := newStore(t, paramstore.Config{Prefix: "/eden"})
	for _, v := range [][]byte{nil, {0xff, 0xfe}} {
		if err := s.PutSecret(context.Background(), "d-1", "x", v); !deploy.IsKind(err, deploy.KindInvalid) {
			t.Errorf("value %q: %v, want Invalid", v, err)
		}
	}
}
