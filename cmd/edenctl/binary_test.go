package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/testpeer"
)

// The tests in this file run the built binary, as people do: against
// `edenctl serve` (the same binary) started as a child process. The
// control plane's Ansible is /bin/false, so every run fails at once and no
// host is ever contacted: these tests are about the command line.

// The version and commit the test binary is stamped with.
const (
	testVersion = "v9.9.9-test"
	testCommit  = "c0ffee"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// edenctlBinary builds edenctl once for the package's tests, stamped as
// the Makefile stamps a release.
func edenctlBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the edenctl binary")
	}
	testpeer.LookPath(t, "go")
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "edenctl-test-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "edenctl")
		pkg := "github.com/edendeploy/edendeploy/internal/buildinfo"
		cmd := exec.Command("go", "build", "-ldflags", "-X "+pkg+".version="+testVersion+" -X "+pkg+".commit="+testCommit, "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{err: err, out: string(out)}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build edenctl: " + e.err.Error() + "\n" + e.out }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// plane is one `edenctl serve`.
type plane struct {
	url, dataDir, admin string
}

// startPlane starts `edenctl serve` and returns once it answers; the test's
// cleanup stops it (SIGTERM, then waits).
func startPlane(t *testing.T, bin string) *plane {
	t.Helper()
	dir := t.TempDir()
	p := &plane{dataDir: filepath.Join(dir, "data")}
	addr := freeAddr(t)
	p.url = "http://" + addr
	cmd := exec.Command(bin, "serve", "--data-dir", p.dataDir, "--addr", addr, "--roles", "test",
		"--record-dir", filepath.Join(dir, "record"), "--ansible-playbook", "/bin/false")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &log}, &syncWriter{w: &log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
			// SIGTERM reaches serve through the command's context.
			if code := cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("edenctl serve exited %d on SIGTERM:\n%s", code, log.String())
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("edenctl serve did not stop on SIGTERM in 20s")
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := http.Get(p.url + "/v1/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("edenctl serve exited at start:\n%s", log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("edenctl serve did not answer in 30s")
		}
	}
	b, err := os.ReadFile(filepath.Join(p.dataDir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	p.admin = strings.TrimSpace(string(b))
	return p
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// user runs the binary with an environment of its own (HOME, the config
// directory, and whatever env adds).
type user struct {
	t     *testing.T
	bin   string
	home  string
	env   map[string]string
	stdin string
}

func newUser(t *testing.T, bin string, env map[string]string) *user {
	home := t.TempDir()
	u := &user{t: t, bin: bin, home: home, env: map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, ".config")}}
	for k, v := range env {
		u.env[k] = v
	}
	return u
}

// run runs edenctl with args; it returns the exit code, stdout and stderr.
func (u *user) run(args ...string) (int, string, string) {
	u.t.Helper()
	cmd := exec.Command(u.bin, args...)
	for k, v := range u.env {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdin = strings.NewReader(u.stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatalf("edenctl %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func (u *user) must(args ...string) string {
	u.t.Helper()
	code, out, errs := u.run(args...)
	if code != 0 {
		u.t.Fatalf("edenctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// create makes a deployment called name on host and returns its ID
// (printed alone with --quiet).
func (u *user) create(name, host string) string {
	u.t.Helper()
	id := strings.TrimSpace(u.must("deployment", "create", "-f", writeSpec(u.t, name, host), "--quiet"))
	if !deploymentIDShape.MatchString(id) {
		u.t.Fatalf("deployment create --quiet printed %q, not an ID", id)
	}
	return id
}

// tokenFor makes a user's token with the admin's.
func tokenFor(t *testing.T, admin *user, name string) string {
	t.Helper()
	tok := strings.TrimSpace(admin.must("token", "create", "--user", name, "--quiet"))
	if !strings.HasPrefix(tok, "edt_") {
		t.Fatalf("token create --quiet printed %q", tok)
	}
	return tok
}

func TestBinaryHelpAndExitCodes(t *testing.T) {
	bin := edenctlBinary(t)
	u := newUser(t, bin, nil)
	for _, p := range leaves(newRoot(&app{getenv: func(string) string { return "" }}), nil) {
		code, out, errs := u.run(append(p, "--help")...)
		if code != 0 || errs != "" || !strings.Contains(out, "usage:\n  edenctl "+strings.Join(p, " ")) {
			t.Errorf("%v --help: exit %d, stderr %q:\n%s", p, code, errs, out)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"deploymnt", "list"}, exitUsage, `did you mean "deployment"?`},
		{[]string{"deployment", "show"}, exitUsage, "edenctl deployment show needs DEPLOYMENT"},
		{[]string{"deployment", "list", "--output", "xml"}, exitUsage, "--output must be table, json or yaml"},
		{[]string{"completion", "tcsh"}, exitUsage, `no completion for "tcsh"`},
		{[]string{"--context", "nowhere", "deployment", "list"}, exitUsage, `no context "nowhere"`},
		{[]string{"deployment", "list", "--endpoint", "http://" + freeAddr(t)}, exitFailed, "cannot reach"},
	} {
		code, _, errs := u.run(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

func TestBinaryAgainstServe(t *testing.T) {
	bin := edenctlBinary(t)
	srv := startPlane(t, bin)
	admin := newUser(t, bin, map[string]string{"EDEN_ENDPOINT": srv.url, "EDEN_TOKEN": srv.admin})
	alice := newUser(t, bin, map[string]string{"EDEN_ENDPOINT": srv.url, "EDEN_TOKEN": tokenFor(t, admin, "alice")})
	bob := newUser(t, bin, map[string]string{"EDEN_ENDPOINT": srv.url, "EDEN_TOKEN": tokenFor(t, admin, "bob")})

	relief1 := alice.create("relief", "127.0.0.11")
	relief2 := alice.create("relief", "127.0.0.12")
	harbour := alice.create("harbour", "127.0.0.13")
	bobsRelief := bob.create("relief", "127.0.0.14")

	t.Run("a name resolves to its ID", func(t *testing.T) {
		var d map[string]any
		if err := json.Unmarshal([]byte(alice.must("deployment", "show", "harbour", "--output", "json")), &d); err != nil {
			t.Fatal(err)
		}
		if d["id"] != harbour || d["name"] != "harbour" {
			t.Errorf("show harbour gave %v %v, want %s", d["id"], d["name"], harbour)
		}
		// Among the caller's own: bob's one "relief" is his, alice's two
		// are not in his way.
		if got := strings.TrimSpace(bob.must("deployment", "show", "relief", "-q")); got != bobsRelief {
			t.Errorf("bob's relief is %q, want %s", got, bobsRelief)
		}
		// Every command that takes a DEPLOYMENT takes a name.
		if out := alice.must("runs", "harbour", "-q"); !regexp.MustCompile(`^r-\w{26}\n$`).MatchString(out) {
			t.Errorf("runs harbour -q printed %q", out)
		}
		if out := alice.must("config", "get", "harbour", "prod"); !strings.Contains(out, "base.public_url") {
			t.Errorf("config get harbour prod:\n%s", out)
		}
	})
	t.Run("an ambiguous name is refused with its matches", func(t *testing.T) {
		code, out, errs := alice.run("deployment", "show", "relief")
		if code != exitFailed || out != "" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		for _, want := range []string{`2 deployments are called "relief"`, relief1, relief2} {
			if !strings.Contains(errs, want) {
				t.Errorf("stderr lacks %q:\n%s", want, errs)
			}
		}
		if strings.Contains(errs, bobsRelief) {
			t.Errorf("alice is told about bob's deployment:\n%s", errs)
		}
		// The admin sees all three: still ambiguous, and an ID still works.
		if code, _, errs := admin.run("deployment", "delete", "relief"); code != exitFailed || !strings.Contains(errs, "3 deployments") {
			t.Errorf("admin: exit %d %q", code, errs)
		}
		if code, _, errs := alice.run("deployment", "show", "nothing-called-this"); code != exitFailed || !strings.Contains(errs, "not found") {
			t.Errorf("unknown name: exit %d %q", code, errs)
		}
	})
	t.Run("JSON and YAML output parse back with the API's field names", func(t *testing.T) {
		var list struct {
			Items []struct {
				ID, Name, Owner string
				Instances       []struct{ Type string }
			}
		}
		if err := json.Unmarshal([]byte(alice.must("deployment", "list", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 3 || list.Items[0].ID != harbour || list.Items[0].Owner != "alice" || list.Items[0].Instances[0].Type != "prod" {
			t.Errorf("list: %+v", list)
		}
		var runs struct{ Items []map[string]any }
		if err := yaml.Unmarshal([]byte(alice.must("runs", harbour, "-o", "yaml")), &runs); err != nil || len(runs.Items) != 1 {
			t.Fatalf("runs yaml: %v %+v", err, runs)
		}
		for _, k := range []string{"id", "deployment_id", "kind", "status", "created_at"} {
			if _, ok := runs.Items[0][k]; !ok {
				t.Errorf("a run in YAML lacks %q: %v", k, runs.Items[0])
			}
		}
		runID := runs.Items[0]["id"].(string)
		var r map[string]any
		if err := json.Unmarshal([]byte(alice.must("run", "show", "harbour", runID, "--output", "json")), &r); err != nil || r["id"] != runID || r["kind"] != "deploy" {
			t.Errorf("run show json: %v %v", err, r)
		}
		if got := alice.must("deployment", "list", "--quiet"); got != harbour+"\n"+relief2+"\n"+relief1+"\n" {
			t.Errorf("list --quiet printed %q", got)
		}
	})
	t.Run("completion", func(t *testing.T) {
		for shell, want := range map[string]string{"bash": "__start_edenctl", "zsh": "#compdef edenctl", "fish": "complete -c edenctl"} {
			if out := alice.must("completion", shell); !strings.Contains(out, want) {
				t.Errorf("completion %s lacks %q", shell, want)
			}
		}
		for _, tc := range []struct {
			args          []string
			want, notWant []string
		}{
			{[]string{"deployment", "show", ""}, []string{harbour + "\tharbour", "harbour\t" + harbour, "relief\t2 deployments: use an ID"}, []string{bobsRelief}},
			{[]string{"deployment", "show", "har"}, []string{"harbour\t" + harbour}, []string{relief1}},
			{[]string{"runs", ""}, []string{"harbour\t"}, nil},
			{[]string{"task", "run", "harbour", ""}, []string{"prod\t"}, []string{"demo"}},
			{[]string{"task", "run", "harbour", "prod", ""}, []string{"pull\t", "restart\t", "clean\t", "backup\t", "deploy\t"}, []string{"add-instance"}},
			{[]string{"instance", "add", "harbour", ""}, []string{"demo\n", "test\n", "setup\n"}, []string{"prod"}},
			{[]string{"config", "set", "harbour", "prod", "base.pu"}, []string{"base.public_url=\t"}, nil},
			{[]string{"--output", ""}, []string{"table\n", "json\n", "yaml\n"}, nil},
		} {
			out := alice.must(append([]string{"__complete"}, tc.args...)...)
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("completing %q lacks %q:\n%s", tc.args, w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("completing %q offers %q:\n%s", tc.args, w, out)
				}
			}
		}
		// A log's completion offers the deployment's runs.
		runID := strings.TrimSpace(alice.must("runs", "harbour", "-q"))
		if out := alice.must("__complete", "logs", "harbour", ""); !strings.Contains(out, runID+"\tdeploy prod failed") {
			t.Errorf("completing logs' RUN:\n%s", out)
		}
	})
	t.Run("version with and without a server", func(t *testing.T) {
		var v versionReport
		if err := json.Unmarshal([]byte(alice.must("version", "-o", "json")), &v); err != nil {
			t.Fatal(err)
		}
		if v.Client.Version != testVersion || v.Client.Commit != testCommit || !strings.HasPrefix(v.Client.GoVersion, "go1.") {
			t.Errorf("client %+v", v.Client)
		}
		if v.Server == nil || *v.Server != v.Client || v.Endpoint != srv.url {
			t.Errorf("server %+v at %s, want %+v at %s", v.Server, v.Endpoint, v.Client, srv.url)
		}
		out := alice.must("version")
		if !regexp.MustCompile(`client:\s+`+testVersion+`\s+commit `+testCommit+`\s+go1\.`).MatchString(out) ||
			!regexp.MustCompile(`server:\s+`+testVersion+`\s+commit `+testCommit+`\s+go1\.\S+\s+at `+srv.url).MatchString(out) {
			t.Errorf("version:\n%s", out)
		}
		gone := "http://" + freeAddr(t)
		code, out, errs := alice.run("version", "--endpoint", gone)
		if code != 0 || !strings.Contains(out, "client:  "+testVersion) || !strings.Contains(out, "server:  not known: cannot reach "+gone) {
			t.Errorf("no server: exit %d %q %q", code, out, errs)
		}
		if out := alice.must("version", "--client", "-q"); out != testVersion+"\n" {
			t.Errorf("version --client -q printed %q", out)
		}
	})
}

func TestBinaryContexts(t *testing.T) {
	bin := edenctlBinary(t)
	a, b := startPlane(t, bin), startPlane(t, bin)
	// Nothing in the environment: contexts only.
	u := newUser(t, bin, nil)
	onA := newUser(t, bin, map[string]string{"EDEN_ENDPOINT": a.url, "EDEN_TOKEN": a.admin})
	onlyOnA := onA.create("only-on-a", "127.0.0.21")

	tokenFile := filepath.Join(t.TempDir(), "a.token")
	os.WriteFile(tokenFile, []byte(a.admin+"\n"), 0o600)
	u.must("context", "add", "a", a.url, "--token-file", tokenFile)
	u.stdin = b.admin + "\n"
	u.must("context", "add", "b", b.url, "--token-file", "-")
	u.stdin = ""

	path := filepath.Join(u.home, ".config", "edenctl", "config.yaml")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, st.Mode().Perm())
	}
	// The first context added is the current one.
	if got := u.must("context", "current"); got != "a\n" {
		t.Errorf("current context %q, want a", got)
	}
	list := func(args ...string) string { return u.must(append(args, "deployment", "list", "-q")...) }
	if got := list(); got != onlyOnA+"\n" {
		t.Errorf("on a: %q", got)
	}
	u.must("context", "use", "b")
	if got := list(); got != "" {
		t.Errorf("on b: %q, want nothing", got)
	}
	if got := list("--context", "a"); got != onlyOnA+"\n" {
		t.Errorf("--context a: %q", got)
	}
	// The environment wins over the current context ...
	u.env["EDEN_ENDPOINT"], u.env["EDEN_TOKEN"] = a.url, a.admin
	if got := list(); got != onlyOnA+"\n" {
		t.Errorf("EDEN_ENDPOINT=a with context b: %q", got)
	}
	// ... and the current context's token goes to its own endpoint only:
	// another server named by EDEN_ENDPOINT or --endpoint never sees it.
	var mu sync.Mutex
	var sent []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent = append(sent, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer other.Close()
	u.env["EDEN_ENDPOINT"], u.env["EDEN_TOKEN"] = other.URL, ""
	for _, args := range [][]string{{"deployment", "list"}, {"deployment", "list", "--context", "b", "--endpoint", other.URL}} {
		if code, _, _ := u.run(args...); code != exitFailed {
			t.Errorf("%v on a server that refuses: exit %d", args, code)
		}
	}
	mu.Lock()
	if len(sent) != 2 || sent[0] != "" || sent[1] != "" {
		t.Errorf("another endpoint was sent %q, want no token", sent)
	}
	mu.Unlock()
	u.env["EDEN_ENDPOINT"] = ""

	// Tokens are never printed.
	for _, args := range [][]string{{"context", "list"}, {"context", "list", "-o", "json"}, {"context", "list", "-o", "yaml"}, {"context", "current"}} {
		code, out, errs := u.run(args...)
		if code != 0 || strings.Contains(out+errs, a.admin) || strings.Contains(out+errs, b.admin) {
			t.Errorf("%v: exit %d, or a token printed:\n%s%s", args, code, out, errs)
		}
	}
	var cl struct {
		CurrentContext string `json:"current_context"`
		Contexts       []contextView
	}
	if err := json.Unmarshal([]byte(u.must("context", "list", "-o", "json")), &cl); err != nil {
		t.Fatal(err)
	}
	want := []contextView{{Name: "a", Endpoint: a.url, HasToken: true}, {Name: "b", Endpoint: b.url, HasToken: true, Current: true}}
	if cl.CurrentContext != "b" || len(cl.Contexts) != 2 || cl.Contexts[0] != want[0] || cl.Contexts[1] != want[1] {
		t.Errorf("context list: %+v", cl)
	}
	if out := u.must("__complete", "context", "use", ""); !strings.Contains(out, "a\t"+a.url) || !strings.Contains(out, "b\t"+b.url) {
		t.Errorf("completing context names:\n%s", out)
	}
	if code, _, errs := u.run("context", "use", "c"); code != exitFailed || !strings.Contains(errs, `no context "c" (there are: a, b)`) {
		t.Errorf("use c: exit %d %q", code, errs)
	}
	u.must("context", "remove", "b")
	if got := u.must("context", "list", "-q"); got != "a\n" {
		t.Errorf("after remove: %q", got)
	}
	if code, _, _ := u.run("context", "current"); code != exitFailed {
		t.Errorf("a removed current context is still current")
	}
}
