package asl

import (
	"context"
	"fmt"
	"time"
)

// runTask runs a Task state: a function called directly, through the
// lambda:invoke integration, or through lambda:invoke.waitForTaskToken.
func (x *execution) runTask(ctx context.Context, b *BranchRecord, st *state, in any, resumed bool) (any, error) {
	eff, err := applyInputPath(st.inputPath, in)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	if st.kind == taskInvokeToken && (!resumed || b.Token == "") {
		b.Token, b.Invoked, b.Reply = newToken(), false, nil
	}
	token, started, invoked, reply := b.Token, b.Started, b.Invoked, b.Reply
	ctxObj := x.contextObject(b, st, token)
	x.mu.Unlock()

	params := eff
	if st.parameters != nil {
		if params, err = st.parameters.eval(&env{input: eff, ctx: ctxObj}); err != nil {
			return nil, err
		}
	}
	timeout, err := seconds(st.timeout, st.timeoutPath, eff, "TimeoutSecondsPath")
	if err != nil {
		return nil, err
	}
	heartbeat, err := seconds(st.heartbeat, st.heartbeatPath, eff, "HeartbeatSecondsPath")
	if err != nil {
		return nil, err
	}
	fn, payload := st.functionName, params
	if st.kind != taskFunction {
		m, _ := params.(map[string]any)
		fn, _ = m["FunctionName"].(string)
		if fn == "" {
			return nil, runtimeErr("Task %q: Parameters.FunctionName must be a non-empty string", st.name)
		}
		var ok bool
		if payload, ok = m["Payload"]; !ok {
			payload = map[string]any{}
		}
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = started.Add(timeout)
	}

	var result any
	if st.kind == taskInvokeToken {
		result, err = x.runCallback(ctx, b, st, token, fn, payload, params, deadline, heartbeat, invoked, reply)
		if err != nil {
			return nil, err
		}
	} else {
		x.mu.Lock()
		x.event(Event{Type: "TaskScheduled", State: st.name, Branch: b.ID, Resource: st.resource, Input: encodeJSON(params)})
		x.event(Event{Type: "TaskStarted", State: st.name, Branch: b.ID, Resource: st.resource})
		reqID := fmt.Sprintf("%s/%s/%d", x.rec.Name, b.ID, b.Visit)
		x.mu.Unlock()
		out, serr := x.invoke(ctx, fn, reqID, payload, deadline)
		if serr != nil {
			x.taskFailed(b, st, serr)
			return nil, serr
		}
		if result, err = decodeJSON(out); err != nil {
			return nil, runtimeErr("Task %q: function %s returned invalid JSON: %v", st.name, fn, err)
		}
		x.mu.Lock()
		x.event(Event{Type: "TaskSucceeded", State: st.name, Branch: b.ID, Resource: st.resource, Output: out})
		x.mu.Unlock()
		if st.kind == taskInvoke {
			result = map[string]any{
				"ExecutedVersion": "$LATEST",
				"Payload":         result,
				"SdkHttpMetadata": map[string]any{
					"HttpHeaders":    map[string]any{"Content-Type": "application/json", "X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": reqID},
					"HttpStatusCode": numberValue(200),
				},
				"SdkResponseMetadata": map[string]any{"RequestId": reqID},
				"StatusCode":          numberValue(200),
			}
		}
	}
	return x.finishResult(st, ctxObj, in, result)
}

func seconds(static time.Duration, p *path, eff any, field string) (time.Duration, error) {
	if p == nil {
		return static, nil
	}
	v, ok := p.get(eff)
	n, isInt := integer(v)
	if !ok || !isInt || n <= 0 {
		return 0, runtimeErr("%s %s must select a positive integer", field, p.raw)
	}
	return time.Duration(n) * time.Second, nil
}

func (x *execution) taskFailed(b *BranchRecord, st *state, serr *stateError) {
	typ := "TaskFailed"
	if serr.Name == ErrTimeout || serr.Name == ErrHeartbeatTimeout {
		typ = "TaskTimedOut"
	}
	x.mu.Lock()
	x.event(Event{Type: typ, State: st.name, Branch: b.ID, Resource: st.resource, Error: serr.Name, Cause: serr.Cause})
	x.mu.Unlock()
}

// invoke calls fn, giving up with States.Timeout at deadline (if set).
func (x *execution) invoke(ctx context.Context, fn, reqID string, payload any, deadline time.Time) ([]byte, *stateError) {
	body := encodeJSON(payload)
	if deadline.IsZero() {
		out, ferr := x.e.reg.invoke(ctx, fn, reqID, body)
		if ferr != nil {
			return nil, ferr.stateError()
		}
		return out, nil
	}
	remaining := deadline.Sub(x.now())
	if remaining <= 0 {
		return nil, &stateError{Name: ErrTimeout, Cause: "the task ran longer than its TimeoutSeconds"}
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		out  []byte
		ferr *functionError
	}
	ch := make(chan result, 1)
	go func() {
		out, ferr := x.e.reg.invoke(cctx, fn, reqID, body)
		ch <- result{out, ferr}
	}()
	timer, stop := x.e.clock.After(remaining)
	defer stop()
	select {
	case r := <-ch:
		if r.ferr != nil {
			return nil, r.ferr.stateError()
		}
		return r.out, nil
	case <-timer:
		return nil, &stateError{Name: ErrTimeout, Cause: "the task ran longer than its TimeoutSeconds"}
	case <-ctx.Done():
		return nil, &stateError{Name: ErrRuntime, Cause: context.Cause(ctx).Error()}
	}
}

// runCallback runs a .waitForTaskToken task. The token is committed before
// the function sees it, and the function's acceptance after, so that after
// a crash the task either calls the function again with the same token or
// just keeps waiting for it.
func (x *execution) runCallback(ctx context.Context, b *BranchRecord, st *state, token, fn string, payload, params any,
	deadline time.Time, heartbeat time.Duration, invoked bool, reply *TaskReply) (any, error) {
	e := x.e
	var w *waiter
	if reply == nil {
		// Open (or find, after Resume) the token's waiter; a reply that
		// arrived in between is already recorded on the branch.
		x.mu.Lock()
		e.mu.Lock()
		w = e.tokens[token]
		if w == nil && b.Reply == nil {
			w = newWaiter(x, b.ID)
			e.tokens[token] = w
		}
		reply = b.Reply
		e.mu.Unlock()
		x.mu.Unlock()
	}
	if reply == nil {
		if !invoked {
			x.mu.Lock()
			x.event(Event{Type: "TaskScheduled", State: st.name, Branch: b.ID, Resource: st.resource, Input: encodeJSON(params)})
			x.event(Event{Type: "TaskStarted", State: st.name, Branch: b.ID, Resource: st.resource})
			err := x.commitLocked(false, b)
			reqID := fmt.Sprintf("%s/%s/%d", x.rec.Name, b.ID, b.Visit)
			x.mu.Unlock()
			if err != nil {
				return nil, err
			}
			if _, serr := x.invoke(ctx, fn, reqID, payload, deadline); serr != nil {
				if ctx.Err() != nil {
					return nil, context.Cause(ctx)
				}
				if !x.closeToken(token) {
					r := <-w.reply // a reply beat the failure: honour it
					reply = &r
				} else {
					x.taskFailed(b, st, serr)
					return nil, serr
				}
			} else {
				x.mu.Lock()
				if b.Token == token {
					b.Invoked = true
				}
				x.event(Event{Type: "TaskSubmitted", State: st.name, Branch: b.ID, Resource: st.resource})
				err := x.commitLocked(false, b)
				x.mu.Unlock()
				if err != nil {
					return nil, err
				}
			}
		}
		if reply == nil {
			r, serr := x.await(ctx, w, token, deadline, heartbeat)
			if serr != nil {
				if ctx.Err() != nil {
					return nil, context.Cause(ctx)
				}
				x.taskFailed(b, st, serr)
				return nil, serr
			}
			reply = r
		}
	}
	if reply.Failed {
		serr := &stateError{Name: reply.Error, Cause: reply.Cause}
		x.taskFailed(b, st, serr)
		return nil, serr
	}
	x.mu.Lock()
	x.event(Event{Type: "TaskSucceeded", State: st.name, Branch: b.ID, Resource: st.resource, Output: reply.Output})
	x.mu.Unlock()
	out, err := decodeJSON(reply.Output)
	if err != nil {
		return nil, runtimeErr("Task %q: task output is not JSON: %v", st.name, err)
	}
	return out, nil
}

// closeToken removes token if it is still open, reporting whether it was.
// If it was not, a SendTask* call took it and its reply is on its way.
func (x *execution) closeToken(token string) bool {
	x.e.mu.Lock()
	defer x.e.mu.Unlock()
	if _, ok := x.e.tokens[token]; ok {
		delete(x.e.tokens, token)
		return true
	}
	return false
}

// await waits for a reply on w, timing out at deadline, or heartbeat after
// the last heartbeat (or after the wait began: a restart restarts the
// heartbeat clock).
func (x *execution) await(ctx context.Context, w *waiter, token string, deadline time.Time, heartbeat time.Duration) (*TaskReply, *stateError) {
	var toC, hbC <-chan time.Time
	if !deadline.IsZero() {
		c, stop := x.e.clock.After(deadline.Sub(x.now()))
		defer stop()
		toC = c
	}
	stopHB := func() bool { return false }
	if heartbeat > 0 {
		hbC, stopHB = x.e.clock.After(heartbeat)
	}
	defer func() { stopHB() }()
	for {
		select {
		case r := <-w.reply:
			return &r, nil
		case <-w.beat:
			if heartbeat > 0 {
				stopHB()
				hbC, stopHB = x.e.clock.After(heartbeat)
			}
		case <-hbC:
			if x.closeToken(token) {
				return nil, &stateError{Name: ErrHeartbeatTimeout, Cause: fmt.Sprintf("no heartbeat for %s", heartbeat)}
			}
			r := <-w.reply
			return &r, nil
		case <-toC:
			if x.closeToken(token) {
				return nil, &stateError{Name: ErrTimeout, Cause: "the task ran longer than its TimeoutSeconds"}
			}
			r := <-w.reply
			return &r, nil
		case <-ctx.Done():
			return nil, &stateError{Name: ErrRuntime, Cause: context.Cause(ctx).Error()}
		}
	}
}
