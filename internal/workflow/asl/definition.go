package asl

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Definition is a parsed, validated state machine (or a Parallel branch, or
// a Map's item processor).
type Definition struct {
	StartAt        string
	States         map[string]*state
	TimeoutSeconds int
}

// optPath is InputPath, OutputPath or ResultPath: absent (the default "$"),
// null (discard), or a path.
type optPath struct {
	null bool
	p    *path // nil with null=false means "$"
}

type taskKind int

const (
	taskFunction    taskKind = iota // Resource names a function directly
	taskInvoke                      // arn:aws:states:::lambda:invoke
	taskInvokeToken                 // arn:aws:states:::lambda:invoke.waitForTaskToken
)

const (
	resourceInvoke      = "arn:aws:states:::lambda:invoke"
	resourceInvokeToken = "arn:aws:states:::lambda:invoke.waitForTaskToken"
)

type retrier struct {
	errorEquals []string
	interval    time.Duration
	maxAttempts int
	backoff     float64
	maxDelay    time.Duration
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  optPath
}

type state struct {
	name, typ  string
	next       string
	end        bool
	inputPath  optPath
	outputPath optPath
	resultPath optPath

	parameters     template
	resultSelector template
	result         any
	hasResult      bool

	// Task
	resource           string
	kind               taskKind
	functionName       string // static function of a Task, "" if chosen at run time
	timeout, heartbeat time.Duration
	timeoutPath        *path
	heartbeatPath      *path
	retry              []retrier
	catch              []catcher

	// Choice
	choices []*choiceRule
	def     string

	// Wait
	seconds       *float64
	secondsPath   *path
	timestamp     *time.Time
	timestampPath *path

	// Fail
	errorName, cause    string
	errorExpr, causeExp expr

	// Parallel, Map
	branches       []*Definition
	processor      *Definition
	itemsPath      *path
	itemSelector   template
	maxConcurrency int
}

var allowedFields = map[string][]string{
	"Pass":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result"},
	"Task":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath"},
	"Choice":   {"InputPath", "OutputPath", "Choices", "Default"},
	"Wait":     {"Next", "End", "InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
	"Succeed":  {"InputPath", "OutputPath"},
	"Fail":     {"Error", "Cause", "ErrorPath", "CausePath"},
	"Parallel": {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Branches"},
	"Map":      {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "ItemProcessor", "Iterator", "ItemsPath", "ItemSelector", "MaxConcurrency"},
}

var substitution = regexp.MustCompile(`\$\{([A-Za-z0-9_.:-]+)\}`)

// Parse parses and validates an ASL definition after replacing each
// ${Name} with subs[Name], as SAM's DefinitionSubstitutions do. Anything
// outside the supported subset is refused, naming the state and the reason.
// Resource names are not checked against a Registry here; Engine.Load does.
func Parse(definition []byte, subs map[string]string) (*Definition, error) {
	text := substitution.ReplaceAllStringFunc(string(definition), func(m string) string {
		if v, ok := subs[m[2:len(m)-1]]; ok {
			// The substitution lands inside a JSON string.
			b, _ := json.Marshal(v)
			return string(b[1 : len(b)-1])
		}
		return m
	})
	var raw json.RawMessage = []byte(text)
	return parseMachine(raw, "", scopeTop)
}

type scope int

const (
	scopeTop scope = iota
	scopeBranch
	scopeItemProcessor
)

func parseMachine(raw json.RawMessage, where string, sc scope) (*Definition, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("asl: %sdefinition is not a JSON object: %v", where, err)
	}
	allowed := []string{"StartAt", "States", "Comment"}
	switch sc {
	case scopeTop:
		allowed = append(allowed, "TimeoutSeconds", "Version", "QueryLanguage")
	case scopeItemProcessor:
		allowed = append(allowed, "ProcessorConfig")
	}
	if err := onlyFields(m, allowed); err != nil {
		return nil, fmt.Errorf("asl: %s%v", where, err)
	}
	d := &Definition{States: map[string]*state{}}
	if q, ok := m["QueryLanguage"]; ok && string(q) != `"JSONPath"` {
		return nil, fmt.Errorf("asl: %sQueryLanguage %s is not supported (only JSONPath)", where, q)
	}
	if pc, ok := m["ProcessorConfig"]; ok {
		var cfg map[string]any
		if err := json.Unmarshal(pc, &cfg); err != nil {
			return nil, fmt.Errorf("asl: %sProcessorConfig must be an object", where)
		}
		for k, v := range cfg {
			if k != "Mode" || v != "INLINE" {
				return nil, fmt.Errorf("asl: %sProcessorConfig %s=%v is not supported (only Mode INLINE)", where, k, v)
			}
		}
	}
	if err := json.Unmarshal(m["StartAt"], &d.StartAt); err != nil || d.StartAt == "" {
		return nil, fmt.Errorf("asl: %sStartAt must be a non-empty string", where)
	}
	if t, ok := m["TimeoutSeconds"]; ok {
		if err := json.Unmarshal(t, &d.TimeoutSeconds); err != nil || d.TimeoutSeconds <= 0 {
			return nil, fmt.Errorf("asl: %sTimeoutSeconds must be a positive integer", where)
		}
	}
	var states map[string]json.RawMessage
	if err := json.Unmarshal(m["States"], &states); err != nil || len(states) == 0 {
		return nil, fmt.Errorf("asl: %sStates must be a non-empty object", where)
	}
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if len(n) > 80 {
			return nil, fmt.Errorf("asl: %sstate %q: name longer than 80 characters", where, n)
		}
		s, err := parseState(n, states[n], where)
		if err != nil {
			return nil, fmt.Errorf("asl: %sstate %q: %v", where, n, err)
		}
		d.States[n] = s
	}
	if d.States[d.StartAt] == nil {
		return nil, fmt.Errorf("asl: %sStartAt %q is not a state", where, d.StartAt)
	}
	// Every transition target exists; every state is reachable.
	reach := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		if reach[n] {
			return
		}
		reach[n] = true
		for _, t := range d.States[n].targets() {
			walk(t)
		}
	}
	for _, n := range names {
		for _, t := range d.States[n].targets() {
			if d.States[t] == nil {
				return nil, fmt.Errorf("asl: %sstate %q: transition to %q, which is not a state of this scope", where, n, t)
			}
		}
	}
	walk(d.StartAt)
	for _, n := range names {
		if !reach[n] {
			return nil, fmt.Errorf("asl: %sstate %q: not reachable from StartAt %q", where, n, d.StartAt)
		}
	}
	return d, nil
}

func (s *state) targets() []string {
	var t []string
	if s.next != "" {
		t = append(t, s.next)
	}
	for _, c := range s.choices {
		t = append(t, c.next)
	}
	if s.def != "" {
		t = append(t, s.def)
	}
	for _, c := range s.catch {
		t = append(t, c.next)
	}
	return t
}

func onlyFields(m map[string]json.RawMessage, allowed []string) error {
	var bad []string
	for k := range m {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("unknown or unsupported field(s) %s", strings.Join(bad, ", "))
	}
	return nil
}

// fields reads typed values out of a state's JSON object, keeping the first error.
type fields struct {
	m   map[string]json.RawMessage
	err error
}

func (f *fields) fail(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}

func (f *fields) has(k string) bool { _, ok := f.m[k]; return ok }

func (f *fields) str(k string) string {
	var s string
	if v, ok := f.m[k]; ok {
		if err := json.Unmarshal(v, &s); err != nil {
			f.fail("%s must be a string", k)
		}
	}
	return s
}

func (f *fields) path(k string, reference bool) *path {
	if !f.has(k) {
		return nil
	}
	s := f.str(k)
	var p *path
	var err error
	if reference {
		p, err = parseReferencePath(s)
	} else {
		p, err = parsePath(s)
	}
	if err != nil {
		f.fail("%s: %v", k, err)
	}
	return p
}

func (f *fields) optPath(k string, reference bool) optPath {
	v, ok := f.m[k]
	if !ok {
		return optPath{}
	}
	if string(v) == "null" {
		return optPath{null: true}
	}
	return optPath{p: f.path(k, reference)}
}

func (f *fields) template(k string) template {
	v, ok := f.m[k]
	if !ok {
		return nil
	}
	val, err := decodeJSON(v)
	if err != nil {
		f.fail("%s: %v", k, err)
		return nil
	}
	t, err := compileTemplate(val)
	if err != nil {
		f.fail("%s: %v", k, err)
	}
	return t
}

func (f *fields) seconds(k string, positive bool) *float64 {
	v, ok := f.m[k]
	if !ok {
		return nil
	}
	var n float64
	if err := json.Unmarshal(v, &n); err != nil || n < 0 || positive && n <= 0 || n != float64(int64(n)) {
		f.fail("%s must be a %s integer", k, map[bool]string{true: "positive", false: "non-negative"}[positive])
		return nil
	}
	return &n
}

func parseState(name string, raw json.RawMessage, where string) (*state, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	f := &fields{m: m}
	s := &state{name: name, typ: f.str("Type")}
	if f.err != nil || s.typ == "" {
		return nil, fmt.Errorf("Type must be a non-empty string")
	}
	allowed, ok := allowedFields[s.typ]
	if !ok {
		return nil, fmt.Errorf("unsupported state type %q", s.typ)
	}
	delete(m, "Type")
	delete(m, "Comment")
	if err := onlyFields(m, allowed); err != nil {
		return nil, fmt.Errorf("%s state: %v", s.typ, err)
	}
	s.next = f.str("Next")
	if f.has("End") && string(m["End"]) != "true" {
		if string(m["End"]) != "false" {
			return nil, fmt.Errorf("End must be a boolean")
		}
	}
	s.end = string(m["End"]) == "true"
	switch s.typ {
	case "Pass", "Task", "Wait", "Parallel", "Map":
		if s.end == (s.next != "") {
			return nil, fmt.Errorf("needs exactly one of Next and End")
		}
	}
	s.inputPath = f.optPath("InputPath", false)
	s.outputPath = f.optPath("OutputPath", false)
	s.resultPath = f.optPath("ResultPath", true)
	s.parameters = f.template("Parameters")
	s.resultSelector = f.template("ResultSelector")
	if v, ok := m["Result"]; ok {
		r, err := decodeJSON(v)
		if err != nil {
			return nil, fmt.Errorf("Result: %v", err)
		}
		s.result, s.hasResult = r, true
	}
	if f.err != nil {
		return nil, f.err
	}
	var err error
	switch s.typ {
	case "Task":
		err = s.parseTask(f)
	case "Choice":
		err = s.parseChoice(f)
	case "Wait":
		err = s.parseWait(f)
	case "Fail":
		err = s.parseFail(f)
	case "Parallel":
		err = s.parseParallel(f, where)
	case "Map":
		err = s.parseMap(f, where)
	}
	if err != nil {
		return nil, err
	}
	if s.typ == "Task" || s.typ == "Parallel" || s.typ == "Map" {
		if err := s.parseRetryCatch(f); err != nil {
			return nil, err
		}
	}
	return s, f.err
}

func (s *state) parseTask(f *fields) error {
	s.resource = f.str("Resource")
	switch {
	case s.resource == "":
		return fmt.Errorf("Resource is required")
	case strings.Contains(s.resource, "${"):
		return fmt.Errorf("Resource %q has an unresolved substitution", s.resource)
	case s.resource == resourceInvoke:
		s.kind = taskInvoke
	case s.resource == resourceInvokeToken:
		s.kind = taskInvokeToken
	case strings.HasPrefix(s.resource, "arn:aws:states:::"):
		return fmt.Errorf("Resource %q: only the lambda:invoke and lambda:invoke.waitForTaskToken integrations are supported", s.resource)
	default:
		s.kind = taskFunction
		s.functionName = s.resource
	}
	if s.kind != taskFunction {
		if s.parameters == nil || !hasField(s.parameters, "FunctionName") {
			return fmt.Errorf("Resource %s needs Parameters with FunctionName", s.resource)
		}
		if o, ok := s.parameters.(objTemplate); ok {
			for _, fl := range o {
				switch fl.key {
				case "FunctionName", "Payload", "Qualifier", "InvocationType", "ClientContext", "LogType":
				default:
					return fmt.Errorf("Parameters: unknown lambda:invoke parameter %q", fl.key)
				}
			}
		}
		if v, ok := staticField(s.parameters, "FunctionName"); ok {
			name, isStr := v.(string)
			if !isStr || name == "" {
				return fmt.Errorf("Parameters.FunctionName must be a non-empty string")
			}
			if strings.Contains(name, "${") {
				return fmt.Errorf("Parameters.FunctionName %q has an unresolved substitution", name)
			}
			s.functionName = name
		}
		if s.kind == taskInvokeToken && !usesPath(s.parameters, "$$.Task.Token") {
			return fmt.Errorf("a .waitForTaskToken task must pass $$.Task.Token in its Parameters")
		}
	}
	if d := f.seconds("TimeoutSeconds", true); d != nil {
		s.timeout = time.Duration(*d) * time.Second
	}
	if d := f.seconds("HeartbeatSeconds", true); d != nil {
		s.heartbeat = time.Duration(*d) * time.Second
	}
	s.timeoutPath = f.path("TimeoutSecondsPath", true)
	s.heartbeatPath = f.path("HeartbeatSecondsPath", true)
	if f.has("TimeoutSeconds") && f.has("TimeoutSecondsPath") || f.has("HeartbeatSeconds") && f.has("HeartbeatSecondsPath") {
		return fmt.Errorf("a Seconds field and its Path variant are mutually exclusive")
	}
	if s.timeout > 0 && s.heartbeat >= s.timeout {
		return fmt.Errorf("HeartbeatSeconds must be smaller than TimeoutSeconds")
	}
	return f.err
}

func (s *state) parseRetryCatch(f *fields) error {
	parseEquals := func(kind string, i int, list []string, last bool) error {
		if len(list) == 0 {
			return fmt.Errorf("%s[%d]: ErrorEquals must be a non-empty array", kind, i)
		}
		for _, e := range list {
			if e == ErrAll && (len(list) != 1 || !last) {
				return fmt.Errorf("%s[%d]: States.ALL must appear alone, in the last %s", kind, i, strings.ToLower(kind))
			}
		}
		return nil
	}
	if v, ok := f.m["Retry"]; ok {
		var rs []map[string]json.RawMessage
		if err := json.Unmarshal(v, &rs); err != nil {
			return fmt.Errorf("Retry must be an array of objects")
		}
		for i, rm := range rs {
			if err := onlyFields(rm, []string{"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment"}); err != nil {
				return fmt.Errorf("Retry[%d]: %v", i, err)
			}
			r := retrier{interval: time.Second, maxAttempts: 3, backoff: 2}
			var raw struct {
				ErrorEquals     []string
				IntervalSeconds *int
				MaxAttempts     *int
				BackoffRate     *float64
				MaxDelaySeconds *int
				JitterStrategy  *string
			}
			b, _ := json.Marshal(rm)
			if err := json.Unmarshal(b, &raw); err != nil {
				return fmt.Errorf("Retry[%d]: %v", i, err)
			}
			if err := parseEquals("Retry", i, raw.ErrorEquals, i == len(rs)-1); err != nil {
				return err
			}
			r.errorEquals = raw.ErrorEquals
			if raw.IntervalSeconds != nil {
				if *raw.IntervalSeconds < 1 {
					return fmt.Errorf("Retry[%d]: IntervalSeconds must be a positive integer", i)
				}
				r.interval = time.Duration(*raw.IntervalSeconds) * time.Second
			}
			if raw.MaxAttempts != nil {
				if *raw.MaxAttempts < 0 {
					return fmt.Errorf("Retry[%d]: MaxAttempts must not be negative", i)
				}
				r.maxAttempts = *raw.MaxAttempts
			}
			if raw.BackoffRate != nil {
				if *raw.BackoffRate < 1 {
					return fmt.Errorf("Retry[%d]: BackoffRate must be at least 1.0", i)
				}
				r.backoff = *raw.BackoffRate
			}
			if raw.MaxDelaySeconds != nil {
				if *raw.MaxDelaySeconds < 1 {
					return fmt.Errorf("Retry[%d]: MaxDelaySeconds must be a positive integer", i)
				}
				r.maxDelay = time.Duration(*raw.MaxDelaySeconds) * time.Second
			}
			if raw.JitterStrategy != nil && *raw.JitterStrategy != "FULL" && *raw.JitterStrategy != "NONE" {
				return fmt.Errorf("Retry[%d]: JitterStrategy must be FULL or NONE", i)
			}
			s.retry = append(s.retry, r)
		}
	}
	if v, ok := f.m["Catch"]; ok {
		var cs []map[string]json.RawMessage
		if err := json.Unmarshal(v, &cs); err != nil {
			return fmt.Errorf("Catch must be an array of objects")
		}
		for i, cm := range cs {
			if err := onlyFields(cm, []string{"ErrorEquals", "Next", "ResultPath", "Comment"}); err != nil {
				return fmt.Errorf("Catch[%d]: %v", i, err)
			}
			cf := &fields{m: cm}
			var c catcher
			if err := json.Unmarshal(cm["ErrorEquals"], &c.errorEquals); err != nil {
				return fmt.Errorf("Catch[%d]: ErrorEquals must be an array of strings", i)
			}
			if err := parseEquals("Catch", i, c.errorEquals, i == len(cs)-1); err != nil {
				return err
			}
			c.next = cf.str("Next")
			if c.next == "" {
				return fmt.Errorf("Catch[%d]: Next is required", i)
			}
			c.resultPath = cf.optPath("ResultPath", true)
			if cf.err != nil {
				return fmt.Errorf("Catch[%d]: %v", i, cf.err)
			}
			s.catch = append(s.catch, c)
		}
	}
	return nil
}

func (s *state) parseChoice(f *fields) error {
	var rules []json.RawMessage
	if err := json.Unmarshal(f.m["Choices"], &rules); err != nil || len(rules) == 0 {
		return fmt.Errorf("Choices must be a non-empty array")
	}
	for i, r := range rules {
		cr, err := parseChoiceRule(r, true)
		if err != nil {
			return fmt.Errorf("Choices[%d]: %v", i, err)
		}
		s.choices = append(s.choices, cr)
	}
	s.def = f.str("Default")
	return f.err
}

func (s *state) parseWait(f *fields) error {
	n := 0
	for _, k := range []string{"Seconds", "SecondsPath", "Timestamp", "TimestampPath"} {
		if f.has(k) {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("needs exactly one of Seconds, SecondsPath, Timestamp and TimestampPath")
	}
	s.seconds = f.seconds("Seconds", false)
	s.secondsPath = f.path("SecondsPath", true)
	s.timestampPath = f.path("TimestampPath", true)
	if f.has("Timestamp") {
		t, ok := timestamp(f.str("Timestamp"))
		if !ok {
			return fmt.Errorf("Timestamp must be an RFC 3339 timestamp")
		}
		s.timestamp = &t
	}
	return f.err
}

func (s *state) parseFail(f *fields) error {
	s.errorName = f.str("Error")
	s.cause = f.str("Cause")
	for _, k := range []string{"Error", "Cause"} {
		if f.has(k) && f.has(k+"Path") {
			return fmt.Errorf("%s and %sPath are mutually exclusive", k, k)
		}
		if f.has(k + "Path") {
			x, err := parseExpr(f.str(k + "Path"))
			if err != nil {
				return fmt.Errorf("%sPath: %v", k, err)
			}
			if k == "Error" {
				s.errorExpr = x
			} else {
				s.causeExp = x
			}
		}
	}
	return f.err
}

func (s *state) parseParallel(f *fields, where string) error {
	var bs []json.RawMessage
	if err := json.Unmarshal(f.m["Branches"], &bs); err != nil || len(bs) == 0 {
		return fmt.Errorf("Branches must be a non-empty array")
	}
	for i, b := range bs {
		d, err := parseMachine(b, fmt.Sprintf("%s%s.Branches[%d]: ", where, s.name, i), scopeBranch)
		if err != nil {
			return err
		}
		s.branches = append(s.branches, d)
	}
	return nil
}

func (s *state) parseMap(f *fields, where string) error {
	proc, key := f.m["ItemProcessor"], "ItemProcessor"
	if proc == nil {
		proc, key = f.m["Iterator"], "Iterator"
	} else if f.has("Iterator") {
		return fmt.Errorf("ItemProcessor and Iterator are mutually exclusive")
	}
	if proc == nil {
		return fmt.Errorf("needs ItemProcessor (or the legacy Iterator)")
	}
	sc := scopeItemProcessor
	if key == "Iterator" {
		sc = scopeBranch
	}
	d, err := parseMachine(proc, fmt.Sprintf("%s%s.%s: ", where, s.name, key), sc)
	if err != nil {
		return err
	}
	s.processor = d
	s.itemsPath = f.path("ItemsPath", true)
	if f.has("ItemSelector") && s.parameters != nil {
		return fmt.Errorf("ItemSelector and Parameters are mutually exclusive")
	}
	s.itemSelector = s.parameters // Parameters is the legacy ItemSelector
	s.parameters = nil
	if f.has("ItemSelector") {
		s.itemSelector = f.template("ItemSelector")
	}
	if n := f.seconds("MaxConcurrency", false); n != nil {
		s.maxConcurrency = int(*n)
	}
	return f.err
}
