package ssm

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// RunLogs reads a run's log on AWS, where it is the SSM output of each
// step's hosts in S3: for every dispatched step in order, a header line
// and each host's full output (OutputKey). SSM uploads a host's output when
// its command ends, so a running step shows its header only; the log is
// complete once the run has ended. It serves the HTTP API's log routes.
type RunLogs struct {
	Blobs       deploy.Blobs
	Runs        deploy.RunStore
	Deployments deploy.DeploymentStore
	// Poll is how often WaitLog looks again; default 2 s.
	Poll time.Duration
}

// ReadLog returns up to limit bytes of the run's log from offset, the
// log's size so far and whether it is complete.
func (l *RunLogs) ReadLog(ctx context.Context, deploymentID, runID string, offset int64, limit int) ([]byte, int64, bool, error) {
	log, complete, err := l.assemble(ctx, deploymentID, runID, l.Blobs.GetBlob)
	if err != nil {
		return nil, 0, false, err
	}
	size := int64(len(log))
	if offset < 0 {
		return nil, 0, false, deploy.Invalid("offset", "must not be negative")
	}
	if offset >= size {
		return nil, size, complete, nil
	}
	end := size
	if limit > 0 && offset+int64(limit) < end {
		end = offset + int64(limit)
	}
	return log[offset:end], size, complete, nil
}

// WaitLog returns when the log is larger than size or complete, or when ctx
// ends. S3 sends no notification, so it looks every Poll. SSM writes each
// output once, so an output already read is not read again: a poll costs
// the run, the deployment and the outputs still missing.
func (l *RunLogs) WaitLog(ctx context.Context, deploymentID, runID string, size int64) error {
	poll := l.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	seen := map[string][]byte{}
	fetch := func(ctx context.Context, key string) ([]byte, error) {
		if b, ok := seen[key]; ok {
			return b, nil
		}
		b, err := l.Blobs.GetBlob(ctx, key)
		if err == nil {
			seen[key] = b
		}
		return b, err
	}
	for {
		log, complete, err := l.assemble(ctx, deploymentID, runID, fetch)
		if err != nil || complete || int64(len(log)) > size {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// assemble builds the run's log as it stands: step headers, then each
// host's output once SSM has stored it, read with fetch.
func (l *RunLogs) assemble(ctx context.Context, deploymentID, runID string, fetch func(context.Context, string) ([]byte, error)) ([]byte, bool, error) {
	r, err := l.Runs.GetRun(ctx, deploymentID, runID)
	if err != nil {
		return nil, false, err
	}
	d, err := l.Deployments.GetDeployment(ctx, deploymentID)
	if err != nil {
		return nil, false, err
	}
	var b bytes.Buffer
	for i, st := range r.Steps {
		if st.CommandID == "" {
			continue
		}
		fmt.Fprintf(&b, "== step %d/%d %s on %s ==\n", i+1, len(r.Steps), st.Name, strings.Join(st.Hosts, ", "))
		for _, h := range st.Hosts {
			srv := d.Server(h)
			if srv == nil || srv.InstanceID == "" {
				continue // the server has left the deployment since
			}
			out, err := fetch(ctx, OutputKey(deploy.StepLogKey(deploymentID, runID, i), st.CommandID, srv.InstanceID))
			if deploy.IsKind(err, deploy.KindNotFound) {
				continue // not uploaded yet: the step is still running
			}
			if err != nil {
				return nil, false, fmt.Errorf("ssm: log of %s on %s: %w", st.Name, h, err)
			}
			fmt.Fprintf(&b, "-- %s (%s) --\n", h, srv.InstanceID)
			b.Write(out)
			if len(out) > 0 && out[len(out)-1] != '\n' {
				b.WriteByte('\n')
			}
		}
		if st.Status == deploy.StepSucceeded || st.Status == deploy.StepFailed {
			fmt.Fprintf(&b, "== step %d/%d %s %s ==\n", i+1, len(r.Steps), st.Name, st.Status)
		}
	}
	return b.Bytes(), r.Status.Terminal(), nil
}
