// Package record is the stored form of the domain's deployments and runs,
// and the opaque page cursors, shared by the store adapters (bolt, dynamo)
// so that both store and page the same way.
//
// Documents are JSON. Instance settings keep their Go types (string, bool,
// int64, float64, []string) through a round trip: each value is stored
// tagged with its type, so an integral float64 stays a float64 and an int64
// never comes back as a float64.
package record

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

type deploymentDoc struct {
	*deploy.Deployment
	// Instances shadows Deployment.Instances to type the settings.
	Instances []instanceDoc `json:"instances"`
}

type instanceDoc struct {
	deploy.Instance
	// Settings shadows Instance.Settings.
	Settings typedSettings `json:"settings"`
}

// EncodeDeployment returns the stored document of d (with its servers and
// instances).
func EncodeDeployment(d *deploy.Deployment) ([]byte, error) {
	doc := deploymentDoc{Deployment: d, Instances: make([]instanceDoc, len(d.Instances))}
	for i, inst := range d.Instances {
		doc.Instances[i] = instanceDoc{Instance: inst, Settings: typedSettings(inst.Settings)}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("record: encode deployment %s: %w", d.ID, err)
	}
	return b, nil
}

// DecodeDeployment reads a document made by EncodeDeployment.
func DecodeDeployment(b []byte) (*deploy.Deployment, error) {
	doc := deploymentDoc{Deployment: &deploy.Deployment{}}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("record: decode deployment: %w", err)
	}
	d := doc.Deployment
	d.Instances = nil
	if doc.Instances != nil {
		d.Instances = make([]deploy.Instance, len(doc.Instances))
	}
	for i, inst := range doc.Instances {
		inst.Instance.Settings = deploy.Settings(inst.Settings)
		d.Instances[i] = inst.Instance
	}
	return d, nil
}

// EncodeRun returns the stored document of r.
func EncodeRun(r *deploy.Run) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("record: encode run %s: %w", r.ID, err)
	}
	return b, nil
}

// DecodeRun reads a document made by EncodeRun.
func DecodeRun(b []byte) (*deploy.Run, error) {
	var r deploy.Run
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("record: decode run: %w", err)
	}
	return &r, nil
}

// EncodeJSON and DecodeJSON store the port's plain records (idempotency
// records, tokens), whose JSON form is already exact.
func EncodeJSON(what string, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("record: encode %s: %w", what, err)
	}
	return b, nil
}

// DecodeJSON is the inverse of EncodeJSON.
func DecodeJSON(what string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("record: decode %s: %w", what, err)
	}
	return nil
}

// typedSettings stores each value as a one-key object naming its type:
// {"s":"text"}, {"b":true}, {"i":5}, {"f":2.5}, {"l":["a","b"]}.
type typedSettings map[string]any

type typedValue struct {
	S *string  `json:"s,omitempty"`
	B *bool    `json:"b,omitempty"`
	I *int64   `json:"i,omitempty"`
	F *float64 `json:"f,omitempty"`
	L []string `json:"l,omitempty"`
	// E marks an empty list, which L's omitempty would drop.
	E bool `json:"e,omitempty"`
}

func (s typedSettings) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	out := make(map[string]typedValue, len(s))
	for k, v := range s {
		var tv typedValue
		switch x := v.(type) {
		case string:
			tv.S = &x
		case bool:
			tv.B = &x
		case int64:
			tv.I = &x
		case int:
			i := int64(x)
			tv.I = &i
		case float64:
			tv.F = &x
		case []string:
			if len(x) == 0 {
				tv.E = true
			}
			tv.L = x
		default:
			return nil, fmt.Errorf("setting %s: unsupported value type %T", k, v)
		}
		out[k] = tv
	}
	return json.Marshal(out)
}

func (s *typedSettings) UnmarshalJSON(b []byte) error {
	var in map[string]typedValue
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in == nil {
		*s = nil
		return nil
	}
	out := make(typedSettings, len(in))
	for k, tv := range in {
		switch {
		case tv.S != nil:
			out[k] = *tv.S
		case tv.B != nil:
			out[k] = *tv.B
		case tv.I != nil:
			out[k] = *tv.I
		case tv.F != nil:
			out[k] = *tv.F
		case tv.L != nil:
			out[k] = tv.L
		case tv.E:
			out[k] = []string{}
		default:
			return fmt.Errorf("setting %s: value without a type", k)
		}
	}
	*s = out
	return nil
}

// FinishRun sets r.ExpiresAt when r is terminal: FinishedAt (or now, when
// the run has none) plus retention. A zero retention keeps runs forever.
func FinishRun(r *deploy.Run, retention time.Duration, now time.Time) {
	if !r.Status.Terminal() || retention <= 0 {
		return
	}
	end := r.FinishedAt
	if end.IsZero() {
		end = now
	}
	r.ExpiresAt = end.Add(retention)
}

// Expired reports whether something that expires at t is gone at now.
func Expired(t, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

// createdLayout is fixed-width so that keys sort as times do (UTC, years
// 0000-9999).
const createdLayout = "2006-01-02T15:04:05.000000000Z"

// CreatedKey is the key that orders deployments by creation time, then ID:
// both adapters sort on it, and a deployments cursor holds one.
func CreatedKey(created time.Time, id string) string {
	return created.UTC().Format(createdLayout) + "#" + id
}

// ValidCreatedKey reports whether k has the shape CreatedKey makes.
func ValidCreatedKey(k string) bool {
	if len(k) < len(createdLayout)+2 || k[len(createdLayout)] != '#' {
		return false
	}
	_, err := time.Parse(createdLayout, k[:len(createdLayout)])
	return err == nil
}

// UniqueInstances returns a Conflict if d would have two instances of one
// type: both stores check it before they write a deployment.
func UniqueInstances(d *deploy.Deployment) error {
	seen := map[deploy.InstanceType]bool{}
	for i, inst := range d.Instances {
		if seen[inst.Type] {
			return deploy.Conflict(fmt.Sprintf("instances[%d].type", i), "deployment %s would have two %s instances", d.ID, inst.Type)
		}
		seen[inst.Type] = true
	}
	return nil
}
