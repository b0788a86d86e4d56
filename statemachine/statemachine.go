// Package statemachine embeds the Amazon States Language definitions that
// carry Eden Deploy's runs. The same file runs on AWS Step Functions (SAM's
// DefinitionUri, with DefinitionSubstitutions for the task function ARNs)
// and on the local ASL engine (internal/workflow/asl), which resolves the
// same substitutions to in-process task functions.
package statemachine

import (
	_ "embed"
	"regexp"
	"sort"
)

// Run is the definition of the run state machine (run.asl.json).
//
//go:embed run.asl.json
var Run []byte

// RunMachine is the logical name of the run state machine.
const RunMachine = "run"

// Notify is the definition of the notify state machine (notify.asl.json),
// which delivers a notice to a deployment's webhooks (internal/notify).
//
//go:embed notify.asl.json
var Notify []byte

// NotifyMachine is the logical name of the notify state machine.
const NotifyMachine = "notify"

var substitution = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

// Substitutions returns the names of the ${Name} placeholders in def,
// sorted and without duplicates.
func Substitutions(def []byte) []string {
	seen := map[string]bool{}
	for _, m := range substitution.FindAllSubmatch(def, -1) {
		seen[string(m[1])] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Substitute replaces every ${Name} in def with values[Name]. Placeholders
// without a value are left as they are, so a later check can name them.
func Substitute(def []byte, values map[string]string) []byte {
	return substitution.ReplaceAllFunc(def, func(m []byte) []byte {
		name := string(substitution.FindSubmatch(m)[1])
		if v, ok := values[name]; ok {
			return []byte(v)
		}
		return m
	})
}
