package asl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sync"
	"time"

	"github.com/edendeploy/edendeploy/internal/workflow"
)

// An execution is one run of a machine: a goroutine walking its top-level
// branch, plus one goroutine per running Parallel branch or Map iteration.
type execution struct {
	e       *Engine
	def     *Definition
	defText []byte
	input   any // decoded rec.Input, set before any branch runs
	done    chan struct{}
	cancel  context.CancelCauseFunc // guarded by e.mu

	mu       sync.Mutex
	rec      ExecutionRecord
	branches map[string]*BranchRecord
	pending  []Event // not yet committed
}

func (x *execution) now() time.Time { return x.e.clock.Now().UTC() }

// event queues ev for the next commit. x.mu must be held.
func (x *execution) event(ev Event) {
	x.rec.LastEventID++
	ev.ID = x.rec.LastEventID
	ev.Timestamp = x.now()
	x.pending = append(x.pending, ev)
}

// commitLocked writes the execution record, the given branches and the
// queued events in one journal commit. x.mu must be held.
func (x *execution) commitLocked(withDef bool, brs ...*BranchRecord) error {
	c := Commit{Execution: x.rec, Events: x.pending}
	if withDef {
		c.Definition = x.defText
	}
	for _, b := range brs {
		c.Branches = append(c.Branches, *b)
	}
	if err := x.e.jrn.Commit(c); err != nil {
		return err
	}
	x.pending = nil
	return nil
}

func (x *execution) finishLocked(status workflow.Status, output any, serr *stateError) {
	x.rec.Status = status
	x.rec.Stop = x.now()
	ev := Event{}
	switch status {
	case workflow.StatusSucceeded:
		x.rec.Output = encodeJSON(output)
		ev = Event{Type: "ExecutionSucceeded", Output: x.rec.Output}
	case workflow.StatusFailed:
		ev.Type = "ExecutionFailed"
	case workflow.StatusTimedOut:
		ev.Type = "ExecutionTimedOut"
	case workflow.StatusAborted:
		ev.Type = "ExecutionAborted"
	}
	if serr != nil {
		x.rec.Error, x.rec.Cause = serr.Name, serr.Cause
		ev.Error, ev.Cause = serr.Name, serr.Cause
	}
	x.event(ev)
	if err := x.e.jrn.Commit(Commit{Execution: x.rec, Events: x.pending, Finished: true}); err != nil {
		x.e.log.Error("asl: record end of execution", "execution", x.rec.ID, "status", status, "err", err)
	} else {
		x.pending = nil
	}
	x.e.dropTokens(x)
}

func (x *execution) run(ctx context.Context) {
	defer close(x.done)
	defer func() {
		x.e.mu.Lock()
		cancel := x.cancel
		x.e.mu.Unlock()
		cancel(nil)
	}()
	if x.def.TimeoutSeconds > 0 {
		deadline := x.rec.Start.Add(time.Duration(x.def.TimeoutSeconds) * time.Second)
		ch, stop := x.e.clock.After(deadline.Sub(x.now()))
		defer stop()
		go func() {
			select {
			case <-ch:
				x.e.mu.Lock()
				cancel := x.cancel
				x.e.mu.Unlock()
				cancel(errExecTimedOut)
			case <-ctx.Done():
			}
		}()
	}
	var out any
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = runtimeErr("engine panic: %v", p)
			}
		}()
		if x.input, err = decodeJSON(x.rec.Input); err != nil {
			err = runtimeErr("input: %v", err)
			return
		}
		out, err = x.runBranch(ctx, "", x.def, x.input)
	}()
	x.mu.Lock()
	var stop *stopCause
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errClosing):
		x.mu.Unlock()
		return // stays RUNNING; the next Resume continues it
	case errors.As(cause, &stop):
		x.finishLocked(workflow.StatusAborted, nil, &stateError{Name: stop.name, Cause: stop.cause})
	case errors.Is(cause, errExecTimedOut):
		x.finishLocked(workflow.StatusTimedOut, nil, &stateError{Name: ErrTimeout, Cause: "the execution ran longer than its TimeoutSeconds"})
	case err != nil:
		var serr *stateError
		if !errors.As(err, &serr) {
			serr = &stateError{Name: ErrRuntime, Cause: err.Error()}
		}
		x.finishLocked(workflow.StatusFailed, nil, serr)
	default:
		x.finishLocked(workflow.StatusSucceeded, out, nil)
	}
	x.mu.Unlock()
	x.e.ended(x)
	x.e.forget(x)
}

// enterLocked moves branch b into state st with input, counting one
// transition, and commits. x.mu must be held.
func (x *execution) enterLocked(b *BranchRecord, st *state, input any) error {
	now := x.now()
	*b = BranchRecord{ID: b.ID, State: st.name, Input: encodeJSON(input), Entered: now, Started: now, Visit: b.Visit + 1}
	x.rec.Transitions++
	x.event(Event{Type: st.typ + "StateEntered", State: st.name, Branch: b.ID, Input: b.Input})
	return x.commitLocked(false, b)
}

func childID(parent, stateName string, visit, index int) string {
	return fmt.Sprintf("%s/%s@%d/%d", parent, url.QueryEscape(stateName), visit, index)
}

// runBranch runs d from its start (or from where the journal left branch
// id) to its end, returning its output.
func (x *execution) runBranch(ctx context.Context, id string, d *Definition, input any) (any, error) {
	x.mu.Lock()
	b := x.branches[id]
	resumed := b != nil
	switch {
	case b == nil:
		b = &BranchRecord{ID: id}
		x.branches[id] = b
		if err := x.enterLocked(b, d.States[d.StartAt], input); err != nil {
			x.mu.Unlock()
			return nil, err
		}
	case b.Done:
		defer x.mu.Unlock()
		if b.Failed {
			return nil, &stateError{Name: b.Error, Cause: b.Cause}
		}
		return decodeJSON(b.Output)
	}
	x.mu.Unlock()
	for {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		x.mu.Lock()
		st := d.States[b.State]
		in, err := decodeJSON(b.Input)
		x.mu.Unlock()
		if err != nil || st == nil {
			return nil, runtimeErr("branch %q: cannot continue in state %q: %v", id, b.State, err)
		}
		out, next, err := x.runState(ctx, b, st, in, resumed)
		resumed = false
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if err != nil {
			var serr *stateError
			if !errors.As(err, &serr) {
				return nil, err // the journal failed
			}
			if delay, ok := x.retry(b, st, serr); ok {
				if err := x.sleep(ctx, delay); err != nil {
					return nil, err
				}
				continue
			}
			if c := st.catcherFor(serr.Name); c != nil {
				res, perr := applyResultPath(c.resultPath, in, map[string]any{"Error": serr.Name, "Cause": serr.Cause})
				if perr == nil {
					x.mu.Lock()
					x.event(Event{Type: st.typ + "StateExited", State: st.name, Branch: id, Error: serr.Name, Cause: serr.Cause})
					err := x.enterLocked(b, d.States[c.next], res)
					x.mu.Unlock()
					if err != nil {
						return nil, err
					}
					continue
				}
				serr = perr
			}
			if id != "" {
				x.mu.Lock()
				b.Done, b.Failed, b.Error, b.Cause = true, true, serr.Name, serr.Cause
				err := x.commitLocked(false, b)
				x.mu.Unlock()
				if err != nil {
					return nil, err
				}
			}
			return nil, serr
		}
		x.mu.Lock()
		x.event(Event{Type: st.typ + "StateExited", State: st.name, Branch: id, Output: encodeJSON(out)})
		if next == "" {
			var err error
			if id != "" { // the top level's end is committed by finishLocked
				b.Done, b.Output = true, encodeJSON(out)
				err = x.commitLocked(false, b)
			}
			x.mu.Unlock()
			return out, err
		}
		err = x.enterLocked(b, d.States[next], out)
		x.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
}

// retry decides whether st retries after serr and, if so, records the
// attempt (it counts as a transition) and returns the delay.
func (x *execution) retry(b *BranchRecord, st *state, serr *stateError) (time.Duration, bool) {
	for i, r := range st.retry {
		if !matchesAny(r.errorEquals, serr.Name) {
			continue
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		for len(b.Attempts) < len(st.retry) {
			b.Attempts = append(b.Attempts, 0)
		}
		n := b.Attempts[i]
		if n >= r.maxAttempts {
			return 0, false
		}
		delay := time.Duration(float64(r.interval) * math.Pow(r.backoff, float64(n)))
		if r.maxDelay > 0 && delay > r.maxDelay {
			delay = r.maxDelay
		}
		b.Attempts[i]++
		b.Retries++
		b.Visit++
		b.Started = x.now().Add(delay)
		b.Token, b.Invoked, b.Reply = "", false, nil
		x.rec.Transitions++
		x.event(Event{Type: st.typ + "StateRetry", State: st.name, Branch: b.ID, Error: serr.Name, Cause: serr.Cause})
		if err := x.commitLocked(false, b); err != nil {
			x.e.log.Error("asl: record retry", "execution", x.rec.ID, "state", st.name, "err", err)
		}
		return delay, true
	}
	return 0, false
}

func matchesAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if matches(p, name) {
			return true
		}
	}
	return false
}

func (s *state) catcherFor(name string) *catcher {
	for i := range s.catch {
		if matchesAny(s.catch[i].errorEquals, name) {
			return &s.catch[i]
		}
	}
	return nil
}

func (x *execution) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	ch, stop := x.e.clock.After(d)
	defer stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func applyInputPath(p optPath, v any) (any, error) {
	switch {
	case p.null:
		return map[string]any{}, nil
	case p.p == nil:
		return v, nil
	}
	out, ok := p.p.get(v)
	if !ok {
		return nil, runtimeErr("Invalid path '%s': the path does not exist in the input '%s'", p.p.raw, encodeJSON(v))
	}
	return out, nil
}

func applyResultPath(p optPath, raw, result any) (any, *stateError) {
	switch {
	case p.null:
		return raw, nil
	case p.p == nil:
		return result, nil
	}
	out, err := p.p.set(raw, result)
	if err != nil {
		return nil, runtimeErr("%v", err)
	}
	return out, nil
}

// contextObject is $$ for state st of branch b. x.mu must be held.
func (x *execution) contextObject(b *BranchRecord, st *state, token string) map[string]any {
	c := map[string]any{
		"Execution": map[string]any{
			"Id": x.rec.ID, "Name": x.rec.Name, "Input": x.input,
			"StartTime":    x.rec.Start.Format(time.RFC3339Nano),
			"RoleArn":      fmt.Sprintf("arn:aws:iam::%s:role/local", x.e.cfg.Account),
			"RedriveCount": numberValue(0),
		},
		"StateMachine": map[string]any{"Id": x.e.machineARN(x.rec.Machine), "Name": x.rec.Machine},
		"State": map[string]any{
			"Name": st.name, "EnteredTime": b.Entered.Format(time.RFC3339Nano),
			"RetryCount": numberValue(float64(b.Retries)),
		},
	}
	if token != "" {
		c["Task"] = map[string]any{"Token": token}
	}
	return c
}

func (x *execution) env(b *BranchRecord, st *state, input any) *env {
	x.mu.Lock()
	defer x.mu.Unlock()
	return &env{input: input, ctx: x.contextObject(b, st, "")}
}

// finishResult applies ResultSelector, ResultPath and OutputPath.
func (x *execution) finishResult(st *state, ctxObj any, raw, result any) (any, error) {
	if st.resultSelector != nil {
		var err error
		if result, err = st.resultSelector.eval(&env{input: result, ctx: ctxObj}); err != nil {
			return nil, err
		}
	}
	out, serr := applyResultPath(st.resultPath, raw, result)
	if serr != nil {
		return nil, serr
	}
	return applyInputPath(st.outputPath, out)
}

func (x *execution) runState(ctx context.Context, b *BranchRecord, st *state, in any, resumed bool) (any, string, error) {
	switch st.typ {
	case "Fail":
		return nil, "", x.runFail(b, st, in)
	case "Task":
		out, err := x.runTask(ctx, b, st, in, resumed)
		return out, st.next, err
	case "Parallel", "Map":
		out, err := x.runFanOut(ctx, b, st, in)
		return out, st.next, err
	}
	eff, err := applyInputPath(st.inputPath, in)
	if err != nil {
		return nil, "", err
	}
	e := x.env(b, st, eff)
	next := st.next
	switch st.typ {
	case "Pass":
		if st.parameters != nil {
			if eff, err = st.parameters.eval(e); err != nil {
				return nil, "", err
			}
		}
		result := eff
		if st.hasResult {
			result = st.result
		}
		out, serr := applyResultPath(st.resultPath, in, result)
		if serr != nil {
			return nil, "", serr
		}
		out, err = applyInputPath(st.outputPath, out)
		return out, next, err
	case "Choice":
		next = ""
		for _, r := range st.choices {
			ok, err := r.eval(e)
			if err != nil {
				return nil, "", err
			}
			if ok {
				next = r.next
				break
			}
		}
		if next == "" {
			if st.def == "" {
				return nil, "", &stateError{Name: ErrNoChoiceMatched, Cause: fmt.Sprintf("No Matches! in state %q", st.name)}
			}
			next = st.def
		}
	case "Wait":
		until, err := x.waitUntil(b, st, eff)
		if err != nil {
			return nil, "", err
		}
		if err := x.sleep(ctx, until.Sub(x.now())); err != nil {
			return nil, "", err
		}
	case "Succeed":
		next = ""
	}
	out, err := applyInputPath(st.outputPath, eff)
	return out, next, err
}

func (x *execution) waitUntil(b *BranchRecord, st *state, eff any) (time.Time, error) {
	x.mu.Lock()
	entered := b.Entered
	x.mu.Unlock()
	switch {
	case st.seconds != nil:
		return entered.Add(time.Duration(*st.seconds) * time.Second), nil
	case st.timestamp != nil:
		return *st.timestamp, nil
	case st.secondsPath != nil:
		v, ok := st.secondsPath.get(eff)
		n, isInt := integer(v)
		if !ok || !isInt || n < 0 {
			return time.Time{}, runtimeErr("SecondsPath %s must select a non-negative integer", st.secondsPath.raw)
		}
		return entered.Add(time.Duration(n) * time.Second), nil
	default:
		v, ok := st.timestampPath.get(eff)
		s, _ := v.(string)
		t, isTS := timestamp(s)
		if !ok || !isTS {
			return time.Time{}, runtimeErr("TimestampPath %s must select an RFC 3339 timestamp", st.timestampPath.raw)
		}
		return t, nil
	}
}

func (x *execution) runFail(b *BranchRecord, st *state, in any) error {
	serr := &stateError{Name: st.errorName, Cause: st.cause}
	e := x.env(b, st, in)
	for _, f := range []struct {
		x   expr
		dst *string
	}{{st.errorExpr, &serr.Name}, {st.causeExp, &serr.Cause}} {
		if f.x == nil {
			continue
		}
		v, err := f.x.eval(e)
		if err != nil {
			return err
		}
		s, ok := v.(string)
		if !ok {
			return runtimeErr("Fail state %q: ErrorPath/CausePath must select a string, got %s", st.name, encodeJSON(v))
		}
		*f.dst = s
	}
	return serr
}

// runFanOut runs a Parallel state's branches or a Map state's iterations,
// each in its own goroutine and branch record, and collects their outputs
// in order. The first failure cancels the rest and fails the state.
func (x *execution) runFanOut(ctx context.Context, b *BranchRecord, st *state, in any) (any, error) {
	eff, err := applyInputPath(st.inputPath, in)
	if err != nil {
		return nil, err
	}
	e := x.env(b, st, eff)
	if st.parameters != nil {
		if eff, err = st.parameters.eval(e); err != nil {
			return nil, err
		}
		e.input = eff
	}
	x.mu.Lock()
	visit := b.Visit
	x.mu.Unlock()

	type job struct {
		def   *Definition
		input any
	}
	var jobs []job
	limit := 0
	if st.typ == "Parallel" {
		for _, d := range st.branches {
			jobs = append(jobs, job{d, eff})
		}
	} else {
		items := eff
		if st.itemsPath != nil {
			v, ok := st.itemsPath.get(eff)
			if !ok {
				return nil, runtimeErr("Map state %q: ItemsPath %s does not exist in the input", st.name, st.itemsPath.raw)
			}
			items = v
		}
		list, ok := items.([]any)
		if !ok {
			return nil, runtimeErr("Map state %q: the items must be an array, got %s", st.name, jsonType(items))
		}
		for i, item := range list {
			in := item
			if st.itemSelector != nil {
				ctxObj := copyMap(e.ctx.(map[string]any))
				ctxObj["Map"] = map[string]any{"Item": map[string]any{"Index": numberValue(float64(i)), "Value": item}}
				if in, err = st.itemSelector.eval(&env{input: eff, ctx: ctxObj}); err != nil {
					return nil, err
				}
			}
			jobs = append(jobs, job{st.processor, in})
		}
		limit = st.maxConcurrency
	}
	if limit <= 0 || limit > len(jobs) {
		limit = len(jobs)
	}

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]any, len(jobs))
	var (
		wg       sync.WaitGroup
		failMu   sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, max(limit, 1))
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-cctx.Done():
		}
		if cctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := x.runBranch(cctx, childID(b.ID, st.name, visit, i), j.def, j.input)
			if err != nil {
				failMu.Lock()
				if firstErr == nil && cctx.Err() == nil {
					firstErr = err
					cancel(err)
				}
				failMu.Unlock()
				return
			}
			results[i] = out
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return x.finishResult(st, e.ctx, in, results)
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
