package httpapi

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/edendeploy/edendeploy/internal/control"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Request and response bodies. Domain types are sent with their own JSON
// tags; these wrap them.

// CreateDeploymentRequest is the body of POST /v1/deployments.
type CreateDeploymentRequest struct {
	deploy.Spec
	// SSHPrivateKey reaches the servers of an ssh-target deployment. It is
	// kept in the secret store and never echoed or logged.
	SSHPrivateKey string `json:"ssh_private_key"`
	// AdminPassword, if set, is Eden's administrator password (checked as
	// Eden checks it); otherwise one is generated. Kept in the secret store
	// only, never echoed or logged.
	AdminPassword *string `json:"admin_password,omitempty"`
	DryRun        bool    `json:"dry_run"`
}

// DeploymentCreated is the response to POST /v1/deployments.
type DeploymentCreated struct {
	Deployment *deploy.Deployment `json:"deployment"`
	Run        *deploy.Run        `json:"run"`
}

// DeploymentDetail is a deployment with its active run (null if none).
type DeploymentDetail struct {
	*deploy.Deployment
	ActiveRun *deploy.Run `json:"active_run"`
}

// DeploymentList is a page of deployments.
type DeploymentList struct {
	Items []*deploy.Deployment `json:"items"`
	Next  string               `json:"next,omitempty"`
}

// AddInstanceRequest is the body of POST /v1/deployments/{id}/instances.
type AddInstanceRequest struct {
	deploy.InstanceSpec
	DryRun bool `json:"dry_run"`
}

// InstanceAdded is the response to POST /v1/deployments/{id}/instances.
type InstanceAdded struct {
	Instance *deploy.Instance `json:"instance"`
	Run      *deploy.Run      `json:"run"`
}

// SettingsDoc is an instance's settings and their version.
type SettingsDoc struct {
	Settings deploy.Settings `json:"settings"`
	Version  int             `json:"version"`
}

// PutSettingsRequest is the body of PUT .../settings.
type PutSettingsRequest struct {
	Settings deploy.Settings `json:"settings"`
	DryRun   bool            `json:"dry_run"`
}

// SettingsReplaced is the response to PUT .../settings.
type SettingsReplaced struct {
	Run     *deploy.Run `json:"run"`
	Version int         `json:"version"`
}

// TaskRequest is the body of POST .../tasks.
type TaskRequest struct {
	Task    string `json:"task"`
	Confirm string `json:"confirm"`
	DryRun  bool   `json:"dry_run"`
	// Backup is the ID of the backup a restore puts back.
	Backup string `json:"backup,omitempty"`
}

// RunStarted is the response to POST .../tasks.
type RunStarted struct {
	Run *deploy.Run `json:"run"`
}

// RunList is a page of runs.
type RunList struct {
	Items []*deploy.Run `json:"items"`
	Next  string        `json:"next,omitempty"`
}

// TokenCreated is the response to POST /v1/tokens.
type TokenCreated struct {
	Token string `json:"token"`
}

// shown returns r as clients see it: without the Auto Scaling lifecycle
// token, a capability to complete the lifecycle action that only the
// workflow needs.
func shown(r *deploy.Run) *deploy.Run {
	if r == nil || r.Lifecycle == nil || r.Lifecycle.Token == "" {
		return r
	}
	cp := *r
	lc := *r.Lifecycle
	lc.Token = ""
	cp.Lifecycle = &lc
	return &cp
}

func shownAll(rs []*deploy.Run) []*deploy.Run {
	out := make([]*deploy.Run, len(rs))
	for i, r := range rs {
		out[i] = shown(r)
	}
	return out
}

func (a *API) health(c *call) error {
	return writeJSON(c.w, http.StatusOK, map[string]string{"status": "ok"})
}

func deploymentPath(id string) string { return "/v1/deployments/" + url.PathEscape(id) }

func runPath(id, run string) string { return deploymentPath(id) + "/runs/" + url.PathEscape(run) }

// started handles what control returns when a change was stored but its run
// could not start: the run is recorded as failed and the change stays, so
// the response says what was stored (and a retry would only conflict).
func (a *API) started(c *call, run *deploy.Run, err error) error {
	if err == nil {
		return nil
	}
	if run == nil {
		return err
	}
	a.log.LogAttrs(c.r.Context(), slog.LevelError, "a run could not start",
		slog.String("request_id", RequestID(c.r.Context())), slog.String("user", c.caller.User),
		slog.String("deployment", run.DeploymentID), slog.String("run", run.ID), slog.String("err", err.Error()))
	return nil
}

func (a *API) createDeployment(c *call) error {
	var req CreateDeploymentRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	var key []byte
	if req.SSHPrivateKey != "" {
		key = []byte(req.SSHPrivateKey)
	}
	var adminPassword []byte
	if req.AdminPassword != nil {
		adminPassword = []byte(*req.AdminPassword)
	}
	d, run, err := a.cfg.Service.CreateDeployment(c.r.Context(), c.caller, control.CreateRequest{Spec: req.Spec, SSHPrivateKey: key, AdminPassword: adminPassword, DryRun: req.DryRun})
	if d == nil || run == nil {
		if err == nil {
			err = errInternal("create returned no deployment")
		}
		return err
	}
	if err := a.started(c, run, err); err != nil {
		return err
	}
	c.deployment, c.run = d.ID, run.ID
	c.w.Header().Set("Location", deploymentPath(d.ID))
	return writeJSON(c.w, http.StatusCreated, DeploymentCreated{Deployment: d, Run: shown(run)})
}

func (a *API) listDeployments(c *call) error {
	p, err := pageOf(c.r)
	if err != nil {
		return err
	}
	var ds []*deploy.Deployment
	var next string
	if name := c.r.URL.Query().Get("name"); name != "" {
		ds, next, err = a.cfg.Service.FindDeployments(c.r.Context(), c.caller, name, p)
	} else {
		ds, next, err = a.cfg.Service.ListDeployments(c.r.Context(), c.caller, p)
	}
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []*deploy.Deployment{}
	}
	return writeJSON(c.w, http.StatusOK, DeploymentList{Items: ds, Next: next})
}

func (a *API) getDeployment(c *call) error {
	d, active, err := a.cfg.Service.GetDeployment(c.r.Context(), c.caller, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, DeploymentDetail{Deployment: d, ActiveRun: shown(active)})
}

func (a *API) deleteDeployment(c *call) error {
	if err := a.cfg.Service.DeleteDeployment(c.r.Context(), c.caller, c.r.PathValue("id")); err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) addInstance(c *call) error {
	var req AddInstanceRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	id := c.r.PathValue("id")
	inst, run, err := a.cfg.Service.AddInstance(c.r.Context(), c.caller, id, req.InstanceSpec, req.DryRun)
	if inst == nil || run == nil {
		if err == nil {
			err = errInternal("add instance returned no instance")
		}
		return err
	}
	if err := a.started(c, run, err); err != nil {
		return err
	}
	c.run = run.ID
	c.w.Header().Set("Location", deploymentPath(id)+"/instances/"+url.PathEscape(string(inst.Type)))
	return writeJSON(c.w, http.StatusCreated, InstanceAdded{Instance: inst, Run: shown(run)})
}

func (a *API) getInstance(c *call) error {
	d, _, err := a.cfg.Service.GetDeployment(c.r.Context(), c.caller, c.r.PathValue("id"))
	if err != nil {
		return err
	}
	inst := d.Instance(deploy.InstanceType(c.r.PathValue("type")))
	if inst == nil {
		return deploy.NotFound("instance %s not found", c.r.PathValue("type"))
	}
	return writeJSON(c.w, http.StatusOK, inst)
}

func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

func (a *API) getSettings(c *call) error {
	s, version, err := a.cfg.Service.GetSettings(c.r.Context(), c.caller, c.r.PathValue("id"), deploy.InstanceType(c.r.PathValue("type")))
	if err != nil {
		return err
	}
	if s == nil {
		s = deploy.Settings{}
	}
	c.w.Header().Set("ETag", etag(version))
	return writeJSON(c.w, http.StatusOK, SettingsDoc{Settings: s, Version: version})
}

// ifMatch reads the settings version an edit is based on from If-Match,
// which must be one strong entity tag such as "3".
func ifMatch(r *http.Request) (int, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" {
		return 0, &httpError{status: http.StatusPreconditionRequired, typ: "precondition-required",
			detail: `If-Match is required: send the ETag of the settings you read, such as "3"`}
	}
	uq, err := strconv.Unquote(h)
	n, err2 := strconv.Atoi(uq)
	if err != nil || err2 != nil || !strings.HasPrefix(h, `"`) || n < 0 {
		return 0, &httpError{status: http.StatusPreconditionFailed, typ: "stale",
			detail: `If-Match matches no version of these settings: send the ETag you read, such as "3"`}
	}
	return n, nil
}

func (a *API) putSettings(c *call) error {
	version, err := ifMatch(c.r)
	if err != nil {
		return err
	}
	var req PutSettingsRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Settings == nil {
		return badRequest("settings", "is required (an empty object keeps only the derived settings)")
	}
	id := c.r.PathValue("id")
	run, newVersion, err := a.cfg.Service.ReplaceSettings(c.r.Context(), c.caller, id, deploy.InstanceType(c.r.PathValue("type")), req.Settings, version, req.DryRun)
	if run == nil {
		if err == nil {
			err = errInternal("replace settings returned no run")
		}
		return err
	}
	if err := a.started(c, run, err); err != nil {
		return err
	}
	c.w.Header().Set("ETag", etag(newVersion))
	c.w.Header().Set("Location", runPath(id, run.ID))
	return writeJSON(c.w, http.StatusAccepted, SettingsReplaced{Run: shown(run), Version: newVersion})
}

func (a *API) startTask(c *call) error {
	var req TaskRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Task == "" {
		return badRequest("task", "is required: clean, pull, restart, backup, restore, remove or deploy")
	}
	id := c.r.PathValue("id")
	run, err := a.cfg.Service.StartTask(c.r.Context(), c.caller, id, control.TaskRequest{
		Kind: deploy.RunKind(req.Task), Instance: deploy.InstanceType(c.r.PathValue("type")), Confirm: req.Confirm, DryRun: req.DryRun,
		Backup: req.Backup,
	})
	return a.runAccepted(c, "start task", id, run, err)
}

// runAccepted answers a request that started run on deployment id: 202
// with the run and its Location, or err when there is no run (op names
// the call that returned it). A run that exists but could not start is
// answered too, as started explains.
func (a *API) runAccepted(c *call, op, id string, run *deploy.Run, err error) error {
	if run == nil {
		if err == nil {
			err = errInternal(op + " returned no run")
		}
		return err
	}
	if err := a.started(c, run, err); err != nil {
		return err
	}
	c.run = run.ID
	c.w.Header().Set("Location", runPath(id, run.ID))
	return writeJSON(c.w, http.StatusAccepted, RunStarted{Run: shown(run)})
}

func (a *API) listRuns(c *call) error {
	p, err := pageOf(c.r)
	if err != nil {
		return err
	}
	rs, next, err := a.cfg.Service.ListRuns(c.r.Context(), c.caller, c.r.PathValue("id"), p)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, RunList{Items: shownAll(rs), Next: next})
}

func (a *API) getRun(c *call) error {
	run, err := a.cfg.Service.GetRun(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("run"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, shown(run))
}

func (a *API) cancelRun(c *call) error {
	run, err := a.cfg.Service.CancelRun(c.r.Context(), c.caller, c.r.PathValue("id"), c.r.PathValue("run"))
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, shown(run))
}

func (a *API) createToken(c *call) error {
	if a.cfg.Tokens == nil {
		return notImplemented("issuing tokens")
	}
	if !c.caller.Admin {
		return deploy.Forbidden("only an admin may issue tokens")
	}
	var req TokenRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	secret, err := a.cfg.Tokens.IssueToken(c.r.Context(), c.caller, req)
	if err != nil {
		return err
	}
	a.log.InfoContext(c.r.Context(), "token issued", "request_id", RequestID(c.r.Context()), "by", c.caller.User, "for", req.User, "admin", req.Admin)
	return writeJSON(c.w, http.StatusCreated, TokenCreated{Token: secret})
}

type internalError string

func (e internalError) Error() string { return "httpapi: " + string(e) }

func errInternal(s string) error { return internalError(s) }
