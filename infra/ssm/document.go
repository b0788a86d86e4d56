// Package ssmdoc carries the SSM Command document that applies a playbook
// bundle on an EC2 instance (apply-bundle.yaml), for the SAM template and
// for tests that run its script.
package ssmdoc

import (
	_ "embed"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// ApplyBundle is the document (schemaVersion 2.2, aws:runShellScript).
//
//go:embed apply-bundle.yaml
var ApplyBundle []byte

// Parameter names of ApplyBundle, as SendCommand passes them.
const (
	ParamBundleBucket     = "bundleBucket"
	ParamBundleKey        = "bundleKey"
	ParamPlaybook         = "playbook"
	ParamSecretsPath      = "secretsPath"
	ParamSecretNames      = "secretNames"
	ParamCheckMode        = "checkMode"
	ParamExecutionTimeout = "executionTimeout"
	ParamResultsKey       = "resultsKey"
	ParamSSE              = "sse"
	// The lifecycle action a scale-out run keeps alive (all "" otherwise).
	ParamLifecycleGroup    = "lifecycleGroup"
	ParamLifecycleHook     = "lifecycleHook"
	ParamLifecycleToken    = "lifecycleToken"
	ParamLifecycleInstance = "lifecycleInstance"
	ParamHeartbeatSeconds  = "heartbeatSeconds"
)

// StepName is the name of the document's only step: SSM writes each
// instance's output to <OutputS3KeyPrefix>/<command-id>/<instance-id>/awsrunShellScript/<StepName>/stdout.
const StepName = "applyBundle"

// Document is the parsed shape of ApplyBundle that tests and tools need.
type Document struct {
	SchemaVersion string               `yaml:"schemaVersion"`
	Parameters    map[string]Parameter `yaml:"parameters"`
	MainSteps     []struct {
		Action string `yaml:"action"`
		Name   string `yaml:"name"`
		Inputs struct {
			TimeoutSeconds string   `yaml:"timeoutSeconds"`
			RunCommand     []string `yaml:"runCommand"`
		} `yaml:"inputs"`
	} `yaml:"mainSteps"`
}

// Parameter is one document parameter.
type Parameter struct {
	Type           string   `yaml:"type"`
	Default        *string  `yaml:"default"`
	AllowedPattern string   `yaml:"allowedPattern"`
	AllowedValues  []string `yaml:"allowedValues"`
}

// Parse parses ApplyBundle.
func Parse() (*Document, error) {
	var d Document
	if err := yaml.Unmarshal(ApplyBundle, &d); err != nil {
		return nil, fmt.Errorf("ssmdoc: %w", err)
	}
	return &d, nil
}

// Check returns an error unless every parameter is declared and its value
// satisfies the declared constraint, as SSM checks at SendCommand; absent
// parameters take their defaults (and must have one).
func (d *Document) Check(params map[string][]string) (map[string]string, error) {
	out := map[string]string{}
	for k := range params {
		if _, ok := d.Parameters[k]; !ok {
			return nil, fmt.Errorf("ssmdoc: undeclared parameter %q", k)
		}
	}
	for name, p := range d.Parameters {
		vs, ok := params[name]
		var v string
		switch {
		case ok && len(vs) == 1:
			v = vs[0]
		case ok:
			return nil, fmt.Errorf("ssmdoc: parameter %s has %d values, want 1", name, len(vs))
		case p.Default != nil:
			v = *p.Default
		default:
			return nil, fmt.Errorf("ssmdoc: required parameter %s missing", name)
		}
		if p.AllowedPattern != "" {
			re, err := regexp.Compile(p.AllowedPattern)
			if err != nil {
				return nil, fmt.Errorf("ssmdoc: parameter %s: %w", name, err)
			}
			if !re.MatchString(v) {
				return nil, fmt.Errorf("ssmdoc: parameter %s value %q does not match %s", name, v, p.AllowedPattern)
			}
		}
		if len(p.AllowedValues) > 0 && !contains(p.AllowedValues, v) {
			return nil, fmt.Errorf("ssmdoc: parameter %s value %q not in %v", name, v, p.AllowedValues)
		}
		out[name] = v
	}
	return out, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9]+)\s*\}\}`)

// Script returns the shell script of the document's step with the
// parameters substituted as SSM does (plain text replacement), after Check.
func (d *Document) Script(params map[string][]string) (string, error) {
	vals, err := d.Check(params)
	if err != nil {
		return "", err
	}
	if len(d.MainSteps) != 1 {
		return "", fmt.Errorf("ssmdoc: %d steps, want 1", len(d.MainSteps))
	}
	script := strings.Join(d.MainSteps[0].Inputs.RunCommand, "\n") + "\n"
	var missing error
	script = placeholder.ReplaceAllStringFunc(script, func(m string) string {
		name := placeholder.FindStringSubmatch(m)[1]
		v, ok := vals[name]
		if !ok {
			missing = fmt.Errorf("ssmdoc: script uses undeclared parameter %s", name)
		}
		return v
	})
	return script, missing
}
