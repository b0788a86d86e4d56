package asl

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

var _ workflow.Engine = (*Engine)(nil)

// Clock is the engine's source of time. The default is the system clock,
// which testing/synctest fakes inside a bubble.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives after d, and a stop function.
	After(d time.Duration) (<-chan time.Time, func() bool)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) After(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Config configures an Engine.
type Config struct {
	Registry *Registry // required: the task functions
	Journal  Journal   // required: NewMemJournal, OpenBoltJournal or NewBoltJournal
	// Substitutions replace ${Name} in definitions, as SAM's
	// DefinitionSubstitutions do on AWS.
	Substitutions map[string]string
	Clock         Clock        // default: the system clock
	Logger        *slog.Logger // default: slog.Default()
	// Account and Region only shape the ARN-like IDs ($$.Execution.Id).
	Account, Region string
	// OnEnd, if set, is told of every execution that ends (succeeded,
	// failed, timed out or aborted), once its end is in the journal, with
	// the execution as DescribeExecution reports it (its Transitions
	// final). It runs on the execution's goroutine before Wait returns:
	// keep it short. An execution that a crash stopped between the two
	// is not told again.
	OnEnd func(workflow.Execution)
}

// Engine runs state machines in-process. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	reg   *Registry
	jrn   Journal
	clock Clock
	log   *slog.Logger

	mu       sync.Mutex
	machines map[string][]byte // logical name → substituted definition
	parsed   map[string]*Definition
	// execs and names hold the executions in flight only: one that ends
	// is read from the journal from then on, so memory does not grow with
	// the executions ever run.
	execs   map[string]*execution
	names   map[string]string // machine NUL name → execution ID
	tokens  map[string]*waiter
	resumed bool
	closed  bool
	wg      sync.WaitGroup
}

// The causes with which an execution's context is cancelled.
var (
	errClosing      = errors.New("asl: engine closing")
	errExecTimedOut = errors.New("asl: execution timed out")
)

type stopCause struct{ name, cause string }

func (s *stopCause) Error() string { return "asl: execution stopped: " + s.name }

// New returns an engine over cfg.Journal. Executions that ended are read
// from the journal when asked for (so names stay unique and
// DescribeExecution works); running ones are loaded, and restart only when
// Resume is called, after Load has added the machines.
func New(cfg Config) (*Engine, error) {
	if cfg.Registry == nil || cfg.Journal == nil {
		return nil, fmt.Errorf("asl: new engine: Registry and Journal are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Account == "" {
		cfg.Account = "000000000000"
	}
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	e := &Engine{
		cfg: cfg, reg: cfg.Registry, jrn: cfg.Journal, clock: cfg.Clock, log: cfg.Logger,
		machines: map[string][]byte{}, parsed: map[string]*Definition{},
		execs: map[string]*execution{}, names: map[string]string{}, tokens: map[string]*waiter{},
	}
	stored, err := e.jrn.Load()
	if err != nil {
		return nil, err
	}
	for _, s := range stored {
		x := &execution{e: e, rec: s.Execution, defText: s.Definition, branches: map[string]*BranchRecord{}, done: make(chan struct{})}
		for i := range s.Branches {
			b := s.Branches[i]
			x.branches[b.ID] = &b
		}
		e.execs[x.rec.ID] = x
		e.names[x.rec.Machine+"\x00"+x.rec.Name] = x.rec.ID
	}
	return e, nil
}

// Load adds (or replaces, for executions started afterwards) the machine
// named name. The definition is refused if it falls outside the supported
// subset or names a function that the Registry does not have.
func (e *Engine) Load(name string, definition []byte) error {
	text := []byte(substitution.ReplaceAllStringFunc(string(definition), func(m string) string {
		if v, ok := e.cfg.Substitutions[m[2:len(m)-1]]; ok {
			b, _ := json.Marshal(v)
			return string(b[1 : len(b)-1])
		}
		return m
	}))
	d, err := e.parse(text)
	if err != nil {
		return fmt.Errorf("asl: load %s: %w", name, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.machines[name] = text
	e.parsed[name] = d
	return nil
}

// parse parses an already substituted definition and checks its functions.
func (e *Engine) parse(text []byte) (*Definition, error) {
	d, err := Parse(text, nil)
	if err != nil {
		return nil, err
	}
	if err := e.checkFunctions(d, ""); err != nil {
		return nil, err
	}
	return d, nil
}

func (e *Engine) checkFunctions(d *Definition, where string) error {
	for name, s := range d.States {
		if s.typ == "Task" && s.functionName != "" {
			if _, ok := e.reg.lookup(s.functionName); !ok {
				return fmt.Errorf("%sstate %q: function %q is not in the registry", where, name, s.functionName)
			}
		}
		for i, b := range s.branches {
			if err := e.checkFunctions(b, fmt.Sprintf("%s%s.Branches[%d]: ", where, name, i)); err != nil {
				return err
			}
		}
		if s.processor != nil {
			if err := e.checkFunctions(s.processor, fmt.Sprintf("%s%s.ItemProcessor: ", where, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Resume restarts every execution that the journal holds as RUNNING, from
// the state each of its branches was in (a Task is invoked again; a
// callback task whose function already took its token keeps waiting for
// it). An execution that cannot resume (its definition no longer parses,
// for instance because a function left the registry) fails with the
// reason. It returns how many executions resumed. Call it once, after Load.
func (e *Engine) Resume(ctx context.Context) (int, error) {
	e.mu.Lock()
	if e.resumed || e.closed {
		e.mu.Unlock()
		return 0, fmt.Errorf("asl: resume: already resumed or closed")
	}
	e.resumed = true
	var run []*execution
	for _, x := range e.execs {
		if x.rec.Status == workflow.StatusRunning {
			run = append(run, x)
		}
	}
	e.mu.Unlock()
	n := 0
	var errs []error
	for _, x := range run {
		d, err := e.parse(x.defText)
		if err == nil && len(x.branches) > 0 {
			err = x.checkBranches(d)
		}
		if err != nil {
			x.mu.Lock()
			x.finishLocked(workflow.StatusFailed, nil, &stateError{Name: "States.Runtime", Cause: "cannot resume after restart: " + err.Error()})
			x.mu.Unlock()
			e.ended(x)
			e.forget(x)
			close(x.done)
			continue
		}
		x.def = d
		e.mu.Lock()
		for _, b := range x.branches {
			if b.Token != "" && b.Reply == nil && !b.Done {
				e.tokens[b.Token] = newWaiter(x, b.ID)
			}
		}
		e.mu.Unlock()
		if err := e.launch(x); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// checkBranches verifies that every branch record names a state that
// exists in its scope.
func (x *execution) checkBranches(d *Definition) error {
	for _, b := range x.branches {
		if b.Done {
			continue
		}
		scope := d
		// IDs are "" or parents joined with "/State@visit/index".
		parts := strings.Split(b.ID, "/")
		for i := 1; i+1 < len(parts); i += 2 {
			st := scope.States[strings.SplitN(parts[i], "@", 2)[0]]
			if st == nil {
				return fmt.Errorf("branch %q: no state %q", b.ID, parts[i])
			}
			switch {
			case st.processor != nil:
				scope = st.processor
			case st.branches != nil:
				var k int
				fmt.Sscan(parts[i+1], &k)
				if k >= len(st.branches) {
					return fmt.Errorf("branch %q: no branch %d", b.ID, k)
				}
				scope = st.branches[k]
			}
		}
		if scope.States[b.State] == nil {
			return fmt.Errorf("branch %q is in state %q, which the definition no longer has", b.ID, b.State)
		}
	}
	return nil
}

func (e *Engine) launch(x *execution) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return fmt.Errorf("asl: engine closed")
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	x.cancel = cancel
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		x.run(ctx)
	}()
	return nil
}

// Close stops every execution goroutine and waits for them. Running
// executions stay RUNNING in the journal and continue at the next Resume.
// The journal is the caller's to close.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	for _, x := range e.execs {
		if x.cancel != nil {
			x.cancel(errClosing)
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

func (e *Engine) executionID(machine, name string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", e.cfg.Region, e.cfg.Account, machine, name)
}

// ExecutionID returns the ID that machine's execution named name has, or
// will have once started; an error for an unknown machine.
func (e *Engine) ExecutionID(machine, name string) (string, error) {
	e.mu.Lock()
	_, ok := e.parsed[machine]
	e.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("asl: execution ID: machine %s: %w", machine, workflow.ErrNotFound)
	}
	return e.executionID(machine, name), nil
}

func (e *Engine) machineARN(machine string) string {
	return fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", e.cfg.Region, e.cfg.Account, machine)
}

func validExecutionName(n string) error {
	if n == "" || len(n) > workflow.MaxExecutionNameLen {
		return fmt.Errorf("execution name must have 1 to 80 characters")
	}
	for _, r := range n {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("<>{}[]?*\"#%\\^|~`$&,;:/", r) {
			return fmt.Errorf("execution name %q has a character Step Functions refuses (%q)", n, r)
		}
	}
	return nil
}

// StartExecution implements workflow.Engine.
func (e *Engine) StartExecution(ctx context.Context, machine, name string, input []byte) (string, error) {
	if err := validExecutionName(name); err != nil {
		return "", fmt.Errorf("asl: start %s: %w", machine, err)
	}
	if len(bytes.TrimSpace(input)) == 0 {
		input = []byte("{}")
	}
	if !json.Valid(input) {
		return "", fmt.Errorf("asl: start %s/%s: input is not JSON", machine, name)
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return "", fmt.Errorf("asl: start %s/%s: engine closed", machine, name)
	}
	d, ok := e.parsed[machine]
	if !ok {
		e.mu.Unlock()
		return "", fmt.Errorf("asl: start %s/%s: machine %w", machine, name, workflow.ErrNotFound)
	}
	if id, ok := e.names[machine+"\x00"+name]; ok {
		x := e.execs[id]
		e.mu.Unlock()
		x.mu.Lock()
		same := x.rec.Status == workflow.StatusRunning && bytes.Equal(x.rec.Input, input)
		x.mu.Unlock()
		if same {
			return id, nil
		}
		return "", fmt.Errorf("asl: start %s/%s: %w", machine, name, workflow.ErrExecutionExists)
	}
	id := e.executionID(machine, name)
	// One that ended is only in the journal (a read of the memory map, no
	// write: held under e.mu so that no start of the same name slips in).
	if _, ended, err := e.jrn.Execution(id); err != nil || ended {
		e.mu.Unlock()
		if err != nil {
			return "", fmt.Errorf("asl: start %s/%s: %w", machine, name, err)
		}
		return "", fmt.Errorf("asl: start %s/%s: %w", machine, name, workflow.ErrExecutionExists)
	}
	x := &execution{
		e: e, def: d, defText: e.machines[machine], branches: map[string]*BranchRecord{}, done: make(chan struct{}),
		rec: ExecutionRecord{
			ID: id, Machine: machine, Name: name, Status: workflow.StatusRunning,
			Input: append(json.RawMessage(nil), input...), Start: e.clock.Now().UTC(),
		},
	}
	e.execs[id] = x
	e.names[machine+"\x00"+name] = id
	e.mu.Unlock()

	x.mu.Lock()
	x.event(Event{Type: "ExecutionStarted", Input: x.rec.Input})
	err := x.commitLocked(true)
	x.mu.Unlock()
	if err != nil {
		e.mu.Lock()
		delete(e.execs, id)
		delete(e.names, machine+"\x00"+name)
		e.mu.Unlock()
		return "", fmt.Errorf("asl: start %s/%s: %w", machine, name, err)
	}
	if err := e.launch(x); err != nil {
		return "", err
	}
	return id, nil
}

// lookup returns the execution in flight with id, or else the record of
// one that ended (x nil), or ErrNotFound.
func (e *Engine) lookup(id string) (*execution, *ExecutionRecord, error) {
	e.mu.Lock()
	x, ok := e.execs[id]
	e.mu.Unlock()
	if ok {
		return x, nil, nil
	}
	r, found, err := e.jrn.Execution(id)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("asl: execution %s: %w", id, err)
	case !found:
		return nil, nil, fmt.Errorf("asl: execution %s: %w", id, workflow.ErrNotFound)
	}
	return nil, &r, nil
}

// forget drops x, which has ended, from memory: the journal has it.
func (e *Engine) forget(x *execution) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.execs[x.rec.ID] == x {
		delete(e.execs, x.rec.ID)
		delete(e.names, x.rec.Machine+"\x00"+x.rec.Name)
	}
}

// DescribeExecution implements workflow.Engine.
func (e *Engine) DescribeExecution(ctx context.Context, id string) (workflow.Execution, error) {
	x, rec, err := e.lookup(id)
	if err != nil {
		return workflow.Execution{}, err
	}
	if x == nil {
		return describe(*rec), nil
	}
	return x.describe(), nil
}

func (x *execution) describe() workflow.Execution {
	x.mu.Lock()
	defer x.mu.Unlock()
	return describe(x.rec)
}

func describe(r ExecutionRecord) workflow.Execution {
	return workflow.Execution{
		ID: r.ID, Machine: r.Machine, Name: r.Name, Status: r.Status,
		Input: append([]byte(nil), r.Input...), Output: append([]byte(nil), r.Output...),
		Error: r.Error, Cause: r.Cause, Start: r.Start, Stop: r.Stop, Transitions: r.Transitions,
	}
}

// ended tells Config.OnEnd that x ended.
func (e *Engine) ended(x *execution) {
	if e.cfg.OnEnd == nil {
		return
	}
	e.cfg.OnEnd(x.describe())
}

// History returns the execution's events in order, like GetExecutionHistory.
func (e *Engine) History(ctx context.Context, id string) ([]Event, error) {
	x, _, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	if x == nil {
		return e.jrn.Events(id)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	evs, err := e.jrn.Events(id)
	if err != nil {
		return nil, err
	}
	return append(evs, x.pending...), nil
}

// Wait blocks until the execution ends or ctx is done, and describes it.
func (e *Engine) Wait(ctx context.Context, id string) (workflow.Execution, error) {
	x, rec, err := e.lookup(id)
	if err != nil {
		return workflow.Execution{}, err
	}
	if x == nil {
		return describe(*rec), nil
	}
	select {
	case <-x.done:
	case <-ctx.Done():
		return workflow.Execution{}, ctx.Err()
	}
	return e.DescribeExecution(ctx, id)
}

// StopExecution implements workflow.Engine. It returns once the execution
// is ABORTED (or had already ended).
func (e *Engine) StopExecution(ctx context.Context, id, errName, cause string) error {
	x, _, err := e.lookup(id)
	if err != nil || x == nil {
		return err // not found, or ended already
	}
	e.mu.Lock()
	cancel := x.cancel
	e.mu.Unlock()
	x.mu.Lock()
	running := x.rec.Status == workflow.StatusRunning && cancel != nil
	x.mu.Unlock()
	if !running {
		return nil
	}
	cancel(&stopCause{name: errName, cause: cause})
	select {
	case <-x.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A waiter is an open callback task.
type waiter struct {
	x      *execution
	branch string
	reply  chan TaskReply
	beat   chan struct{}
}

func newWaiter(x *execution, branch string) *waiter {
	return &waiter{x: x, branch: branch, reply: make(chan TaskReply, 1), beat: make(chan struct{}, 1)}
}

func newToken() string {
	var b [48]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// SendTaskSuccess implements workflow.Engine.
func (e *Engine) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	if !json.Valid(output) {
		return fmt.Errorf("asl: send task success: output is not JSON")
	}
	return e.reply(token, TaskReply{Output: append(json.RawMessage(nil), output...)})
}

// SendTaskFailure implements workflow.Engine.
func (e *Engine) SendTaskFailure(ctx context.Context, token, errName, cause string) error {
	return e.reply(token, TaskReply{Failed: true, Error: errName, Cause: cause})
}

// reply records the reply durably before delivering it, so that a crash
// right after SendTaskSuccess returns loses nothing.
func (e *Engine) reply(token string, r TaskReply) error {
	e.mu.Lock()
	w, ok := e.tokens[token]
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("asl: task token: %w", workflow.ErrTaskNotFound)
	}
	// Lock order is x.mu, then e.mu. Holding x.mu from the removal of the
	// token to the recording of the reply lets the task see one or the other.
	x := w.x
	x.mu.Lock()
	defer x.mu.Unlock()
	e.mu.Lock()
	if e.tokens[token] != w {
		e.mu.Unlock()
		return fmt.Errorf("asl: task token: %w", workflow.ErrTaskNotFound)
	}
	delete(e.tokens, token)
	e.mu.Unlock()
	b := x.branches[w.branch]
	if b == nil || b.Token != token || x.rec.Status != workflow.StatusRunning {
		return fmt.Errorf("asl: task token: %w", workflow.ErrTaskNotFound)
	}
	b.Reply = &r
	err := x.commitLocked(false, b)
	// Deliver even if the commit failed: the task may already be waiting
	// for this reply, having lost the race to close the token.
	w.reply <- r
	if err != nil {
		return fmt.Errorf("asl: record task reply: %w", err)
	}
	return nil
}

// SendTaskHeartbeat implements workflow.Engine.
func (e *Engine) SendTaskHeartbeat(ctx context.Context, token string) error {
	e.mu.Lock()
	w, ok := e.tokens[token]
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("asl: task token: %w", workflow.ErrTaskNotFound)
	}
	select {
	case w.beat <- struct{}{}:
	default: // one pending beat is as good as many
	}
	return nil
}

// dropTokens closes every open task of x.
func (e *Engine) dropTokens(x *execution) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for t, w := range e.tokens {
		if w.x == x {
			delete(e.tokens, t)
		}
	}
}
