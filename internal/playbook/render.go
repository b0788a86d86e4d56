package playbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/infra/ansible"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Input is one step of a run to render.
type Input struct {
	Deployment *deploy.Deployment
	Run        *deploy.Run
	// Step is the index of the step in Run.Steps.
	Step int
}

// Options choose what goes into a bundle besides the vars.
type Options struct {
	// Roles holds one directory per role. Nil means ansible.Roles(), the
	// real roles; tests pass ansible.TestRoles().
	Roles fs.FS
	// Playbooks holds the playbooks and ansible.cfg at its root. Nil means
	// ansible.Files.
	Playbooks fs.FS
	// Backups says how dumps leave the database servers and how many stay.
	Backups BackupOptions
}

// File is one file of a bundle.
type File struct {
	Name string // slash-separated, relative
	Mode fs.FileMode
	Data []byte
}

// Bundle is everything ansible-playbook needs for one step, except the
// secrets: files sorted by name, and their metadata.
type Bundle struct {
	Files []File
	Meta  Meta
}

// Meta is bundle.json.
type Meta struct {
	Format       int      `json:"format"`
	DeploymentID string   `json:"deployment_id"`
	RunID        string   `json:"run_id"`
	RunKind      string   `json:"run_kind"`
	StepIndex    int      `json:"step_index"`
	StepName     string   `json:"step_name"`
	StepRole     string   `json:"step_role"`
	Hosts        []string `json:"hosts"`
	Playbook     string   `json:"playbook"`
	Roles        []string `json:"roles"`
	Instances    []string `json:"instances"`
	Secrets      []string `json:"secrets"`
	// Hash is "sha256:" and the hex SHA-256 of every other file of the
	// bundle (name, NUL, length, NUL, contents, in name order).
	Hash string `json:"hash"`
}

// Names of the bundle's own files.
const (
	VarsFile    = "vars/eden.yml"
	SecretsFile = "secrets.json"
	MetaFile    = "bundle.json"
	ConfigFile  = "ansible.cfg"
)

// File returns the file called name, or nil.
func (b *Bundle) File(name string) *File {
	i := sort.Search(len(b.Files), func(i int) bool { return b.Files[i].Name >= name })
	if i < len(b.Files) && b.Files[i].Name == name {
		return &b.Files[i]
	}
	return nil
}

// rolesFor lists the roles a playbook applies for each step role, in the
// order the playbook includes them. A missing entry means the playbook has
// nothing to do on that tier.
var rolesFor = map[string]map[deploy.Role][]string{
	deploy.PlaybookDeploy: {
		deploy.RoleAll:       {"postgresql", "common", "eden", "uwsgi", "nginx"},
		deploy.RoleDB:        {"postgresql"},
		deploy.RoleEden:      {"common", "eden", "uwsgi"},
		deploy.RoleWebServer: {"nginx"},
	},
	deploy.PlaybookClean: {
		deploy.RoleAll:  {"uwsgi", "postgresql", "eden"},
		deploy.RoleDB:   {"postgresql"},
		deploy.RoleEden: {"uwsgi", "eden"},
	},
	deploy.PlaybookPull: {
		deploy.RoleAll:  {"common", "eden", "uwsgi"},
		deploy.RoleEden: {"common", "eden", "uwsgi"},
	},
	deploy.PlaybookRestart: {
		deploy.RoleAll:  {"uwsgi"},
		deploy.RoleEden: {"uwsgi"},
	},
	deploy.PlaybookBackup: {
		deploy.RoleAll: {"postgresql"},
		deploy.RoleDB:  {"postgresql"},
	},
	deploy.PlaybookReconfigure: {
		deploy.RoleAll:       {"eden", "uwsgi", "nginx"},
		deploy.RoleEden:      {"eden", "uwsgi"},
		deploy.RoleWebServer: {"nginx"},
	},
	deploy.PlaybookRestore: {
		deploy.RoleAll:  {"postgresql", "eden", "uwsgi"},
		deploy.RoleDB:   {"postgresql"},
		deploy.RoleEden: {"eden", "uwsgi"},
	},
	deploy.PlaybookRemove: {
		deploy.RoleAll:       {"uwsgi", "postgresql", "common", "nginx"},
		deploy.RoleDB:        {"postgresql"},
		deploy.RoleEden:      {"uwsgi", "common"},
		deploy.RoleWebServer: {"nginx"},
	},
	deploy.PlaybookMaintenanceOn: {
		deploy.RoleAll:       {"nginx"},
		deploy.RoleWebServer: {"nginx"},
	},
	deploy.PlaybookMaintenanceOff: {
		deploy.RoleAll:       {"nginx"},
		deploy.RoleWebServer: {"nginx"},
	},
}

// Render renders step in.Step of in.Run on in.Deployment into a bundle.
// It validates again every host and setting that reaches a file (a defence
// in depth behind the domain's validation) and returns an error of kind
// Invalid when one is not acceptable.
func Render(in Input, opt Options) (*Bundle, error) {
	d, r := in.Deployment, in.Run
	if d == nil || r == nil {
		return nil, deploy.Invalid("", "playbook: a deployment and a run are required")
	}
	if in.Step < 0 || in.Step >= len(r.Steps) {
		return nil, deploy.Invalid("step", "run %s has no step %d", r.ID, in.Step)
	}
	if r.DeploymentID != d.ID {
		return nil, deploy.Invalid("run", "run %s belongs to deployment %s, not %s", r.ID, r.DeploymentID, d.ID)
	}
	step := r.Steps[in.Step]
	roles, ok := rolesFor[step.Playbook][step.Role]
	if !ok {
		return nil, deploy.Invalid("step", "playbook %q has nothing to do on a %q step", step.Playbook, step.Role)
	}
	if opt.Roles == nil {
		opt.Roles = ansible.Roles()
	}
	if opt.Playbooks == nil {
		opt.Playbooks = ansible.Files
	}
	for i, h := range step.Hosts {
		if err := deploy.ValidateHost(fmt.Sprintf("steps[%d].hosts[%d]", in.Step, i), h); err != nil {
			return nil, err
		}
	}

	v, err := buildVars(d, r, step)
	if err != nil {
		return nil, err
	}
	if err := dayTwoVars(v, d, r, step, opt.Backups); err != nil {
		return nil, err
	}
	varsYAML, err := marshalVars(v.root.node)
	if err != nil {
		return nil, err
	}
	secrets := append(secretsFor(step, v.firstRun), v.tlsSecrets...)
	sort.Strings(secrets)
	secretsJSON, err := json.Marshal(secrets)
	if err != nil {
		return nil, fmt.Errorf("playbook: secrets.json: %w", err)
	}

	b := &Bundle{}
	add := func(name string, data []byte) { b.Files = append(b.Files, File{Name: name, Mode: 0o644, Data: data}) }
	for _, name := range []string{ConfigFile, step.Playbook} {
		data, err := fs.ReadFile(opt.Playbooks, name)
		if err != nil {
			return nil, fmt.Errorf("playbook: read %s: %w", name, err)
		}
		add(name, data)
	}
	// The runners enable this plugin for per-host results; it is ours, not
	// the playbooks', so it always comes from the embedded files.
	add(ansible.CallbackPluginFile, ansible.CallbackPlugin())
	// So are the modules the real roles call (eden_files).
	if err := addTree(add, ansible.Modules(), ".", ansible.ModuleDir); err != nil {
		return nil, fmt.Errorf("playbook: read the modules: %w", err)
	}
	for _, role := range roles {
		if err := addTree(add, opt.Roles, role, path.Join("roles", role)); err != nil {
			return nil, fmt.Errorf("playbook: read role %s: %w", role, err)
		}
	}
	add(VarsFile, varsYAML)
	add(SecretsFile, append(secretsJSON, '\n'))
	sort.Slice(b.Files, func(i, j int) bool { return b.Files[i].Name < b.Files[j].Name })

	sortedRoles := slices.Clone(roles)
	sort.Strings(sortedRoles)
	b.Meta = Meta{
		Format: 1, DeploymentID: d.ID, RunID: r.ID, RunKind: string(r.Kind),
		StepIndex: in.Step, StepName: step.Name, StepRole: string(step.Role),
		Hosts: slices.Clone(step.Hosts), Playbook: step.Playbook, Roles: sortedRoles,
		Instances: v.types, Secrets: secrets, Hash: hashFiles(b.Files),
	}
	if b.Meta.Hosts == nil {
		b.Meta.Hosts = []string{}
	}
	meta, err := json.MarshalIndent(b.Meta, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("playbook: bundle.json: %w", err)
	}
	add(MetaFile, append(meta, '\n'))
	sort.Slice(b.Files, func(i, j int) bool { return b.Files[i].Name < b.Files[j].Name })
	return b, nil
}

func hashFiles(files []File) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Name, len(f.Data))
		h.Write(f.Data)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func marshalVars(root *yaml.Node) ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root},
		HeadComment: "Rendered by Eden Deploy. Every string is !unsafe: Ansible uses it verbatim and never evaluates it."}
	var buf bytes.Buffer
	buf.WriteString("---\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("playbook: vars: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("playbook: vars: %w", err)
	}
	return buf.Bytes(), nil
}

// secretsFor names the secrets the step's roles read at run time.
func secretsFor(step deploy.Step, firstRun bool) []string {
	db := step.Role == deploy.RoleAll || step.Role == deploy.RoleDB
	eden := step.Role == deploy.RoleAll || step.Role == deploy.RoleEden
	var out []string
	switch step.Playbook {
	case deploy.PlaybookDeploy, deploy.PlaybookClean:
		if db || eden {
			out = append(out, deploy.SecretDBPassword)
		}
		if eden {
			out = append(out, deploy.SecretHMACKey)
			if firstRun {
				out = append(out, deploy.SecretAdminPassword)
			}
		}
	case deploy.PlaybookPull, deploy.PlaybookReconfigure:
		out = append(out, deploy.SecretDBPassword, deploy.SecretHMACKey)
	case deploy.PlaybookRestore:
		if eden { // migrate and compile, as a pull does
			out = append(out, deploy.SecretDBPassword, deploy.SecretHMACKey)
		}
	}
	if out == nil {
		out = []string{}
	}
	sort.Strings(out)
	return out
}

// vars is the vars file under construction.
type vars struct {
	root     mapping
	types    []string
	firstRun bool
	// tlsSecrets are the own certificates' chains and keys the web
	// server's step reads.
	tlsSecrets []string
}

const postgresPort = 5432

func buildVars(d *deploy.Deployment, r *deploy.Run, step deploy.Step) (*vars, error) {
	insts, err := instancesOf(d, r)
	if err != nil {
		return nil, err
	}
	aio := d.AllInOne()
	edenHosts := d.HostsFor(deploy.RoleEden)
	for i, h := range edenHosts {
		if err := deploy.ValidateHost(fmt.Sprintf("eden_hosts[%d]", i), h); err != nil {
			return nil, err
		}
	}
	dbHost := "localhost"
	if !aio {
		dbs := d.HostsOf(deploy.RoleDB)
		if len(dbs) == 0 {
			return nil, deploy.Invalid("servers", "a 3-tier deployment needs a db server")
		}
		dbHost = dbs[0]
		if err := deploy.ValidateHost("db_host", dbHost); err != nil {
			return nil, err
		}
	}
	db := step.Role == deploy.RoleAll || step.Role == deploy.RoleDB
	eden := step.Role == deploy.RoleAll || step.Role == deploy.RoleEden
	web := step.Role == deploy.RoleAll || step.Role == deploy.RoleWebServer

	if err := checkUserText(d); err != nil {
		return nil, err
	}
	v := &vars{root: newMapping()}
	m := v.root
	m.str("eden_deployment_id", d.ID)
	m.str("eden_deployment_name", d.Name)
	m.str("eden_run_id", r.ID)
	m.str("eden_run_kind", string(r.Kind))
	m.str("eden_step_name", step.Name)
	m.str("eden_step_role", string(step.Role))
	m.bool("eden_all_in_one", aio)
	if db {
		if aio {
			m.str("eden_db_listen", "localhost")
		} else {
			m.str("eden_db_listen", "*")
		}
		var clients []string
		if !aio {
			for _, h := range edenHosts {
				clients = append(clients, hbaAddress(h))
			}
		}
		m.list("eden_db_clients", clients)
	}
	if eden {
		repo := func(rp deploy.Repo) *yaml.Node {
			n := newMapping()
			n.str("url", rp.URL)
			n.str("branch", rp.Branch)
			return n.node
		}
		m.put("eden_web2py_repo", repo(d.Web2py))
		m.put("eden_eden_repo", repo(d.Eden))
		m.str("eden_template", d.Template)
		m.list("eden_prepopulate", d.Prepopulate)
		m.str("eden_country", d.Country)
		m.str("eden_admin_email", d.AdminEmail)
		m.str("eden_sender_email", d.SenderEmail)
		m.str("eden_db_host", dbHost)
		m.int("eden_db_port", postgresPort)
	}
	if web {
		m.bool("eden_static_local", aio)
	}

	firstRun := r.Kind == deploy.RunDeploy || r.Kind == deploy.RunAddInstance || r.Kind == deploy.RunClean
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, inst := range insts {
		t := inst.Type
		im := newMapping()
		im.str("type", string(t))
		im.str("home", t.Home())
		im.str("db_name", t.DatabaseName())
		im.str("db_user", t.DatabaseName())
		im.bool("first_run", firstRun)
		im.str("copy_from", copySource(d, r, t))
		if db {
			im.int("backup_minute", backupMinute(t))
		}
		if eden {
			if err := instanceEdenVars(im, d, inst, dbHost, edenHosts, aio); err != nil {
				return nil, err
			}
		}
		if web {
			if err := instanceWebVars(im, inst, edenHosts, aio); err != nil {
				return nil, err
			}
			secrets, err := instanceTLSVars(im, d, inst)
			if err != nil {
				return nil, err
			}
			v.tlsSecrets = append(v.tlsSecrets, secrets...)
		}
		list.Content = append(list.Content, im.node)
		v.types = append(v.types, string(t))
	}
	if v.types == nil {
		v.types = []string{}
	}
	m.put("eden_instances", list)
	v.firstRun = firstRun && len(insts) > 0
	return v, nil
}

// instancesOf returns the instances the run acts on: its own, or for a
// scale-out or scale-in every deployed instance.
func instancesOf(d *deploy.Deployment, r *deploy.Run) ([]deploy.Instance, error) {
	if r.Instance != "" {
		inst := d.Instance(r.Instance)
		if inst == nil {
			return nil, deploy.NotFound("instance %s not found", r.Instance)
		}
		return []deploy.Instance{*inst}, nil
	}
	var out []deploy.Instance
	for _, inst := range d.Instances {
		if inst.Status == deploy.InstanceDeployed {
			out = append(out, inst)
		}
	}
	return out, nil
}

// copySource is the database a new or cleaned test instance starts from:
// prod's, once prod is deployed.
func copySource(d *deploy.Deployment, r *deploy.Run, t deploy.InstanceType) string {
	if t != deploy.InstanceTest || r.Kind == deploy.RunScaleOut || r.Kind == deploy.RunScaleIn {
		return ""
	}
	switch r.Kind {
	case deploy.RunDeploy, deploy.RunAddInstance, deploy.RunClean:
		if p := d.Instance(deploy.InstanceProd); p != nil && p.Status == deploy.InstanceDeployed {
			return deploy.InstanceProd.DatabaseName()
		}
	}
	return ""
}

// backupMinute spreads the nightly backups of one host's instances.
func backupMinute(t deploy.InstanceType) int {
	return map[deploy.InstanceType]int{deploy.InstanceProd: 0, deploy.InstanceTest: 15, deploy.InstanceDemo: 30, deploy.InstanceSetup: 45}[t]
}

func instanceEdenVars(im mapping, d *deploy.Deployment, inst deploy.Instance, dbHost string, edenHosts []string, aio bool) error {
	t := inst.Type
	settings, err := inst.Settings.Normalize()
	if err != nil {
		return err
	}
	im.str("url", inst.URL)
	sm := newMapping()
	for _, k := range settings.Keys() {
		n, ok := settingNode(settings[k])
		if !ok {
			return deploy.Invalid("settings."+k, "has an unsupported type %T", settings[k])
		}
		sm.put(k, n)
	}
	im.put("settings", sm.node)

	template := any(d.Template)
	if s, ok := settings["base.template"]; ok {
		template = s
	}
	pre := []struct {
		key string
		val any
	}{
		{"base.template", template},
		{"database.db_type", "postgres"},
		{"database.host", dbHost},
		{"database.port", int64(postgresPort)},
		{"database.database", t.DatabaseName()},
		{"database.username", t.DatabaseName()},
		{"gis.spatialdb", true},
	}
	var preLines, postLines []string
	for _, p := range pre {
		line, err := settingLine(p.key, p.val)
		if err != nil {
			return err
		}
		preLines = append(preLines, line)
	}
	for _, k := range settings.Keys() {
		if k == "base.template" || k == "base.prepopulate" {
			continue
		}
		line, err := settingLine(k, settings[k])
		if err != nil {
			return err
		}
		postLines = append(postLines, line)
	}
	firstRunLines, err := prepopulateLines(settings["base.prepopulate"])
	if err != nil {
		return err
	}
	im.list("config_pre", preLines)
	im.list("config_post", postLines)
	im.list("config_first_run", firstRunLines)

	port := t.UWSGIPort()
	socket := "127.0.0.1:" + strconv.Itoa(port)
	if !aio {
		socket = "0.0.0.0:" + strconv.Itoa(port)
		for _, h := range edenHosts {
			if isIPv6(h) {
				socket = "[::]:" + strconv.Itoa(port)
			}
		}
	}
	im.str("uwsgi_socket", socket)
	workers := 2
	if t == deploy.InstanceProd {
		workers = 4
	}
	im.int("uwsgi_workers", workers)
	return nil
}

// prepopulateLines are the 000_config.py lines of a first run, after the
// template's settings: the instance's prepopulate options (the
// base.prepopulate setting) added, in order, to the list the template made
// (Eden's zzz_1st_run adds settings.base.prepopulate_demo to it, so a tuple
// there would crash the first run, and a list written over it would drop
// the template's own default/base), and Eden's demo data turned off: its
// users have well-known passwords, and whoever wants them names
// default/users.
func prepopulateLines(v any) ([]string, error) {
	var options []string
	switch x := v.(type) {
	case nil:
	case []string:
		options = x
	default:
		return nil, deploy.Invalid("settings.base.prepopulate", "must be a list of prepopulate options, not %T", v)
	}
	lines := []string{
		"_prepopulate = settings.base.get(\"prepopulate\") or []",
		"if not isinstance(_prepopulate, (list, tuple)):",
		"    _prepopulate = [_prepopulate]",
		"_prepopulate = list(_prepopulate)",
	}
	for _, o := range options {
		lit := PyString(o)
		lines = append(lines, "if "+lit+" not in _prepopulate:", "    _prepopulate.append("+lit+")")
	}
	return append(lines,
		"settings.base.prepopulate = _prepopulate",
		"settings.base.prepopulate_demo = []",
		"del _prepopulate",
	), nil
}

func instanceWebVars(im mapping, inst deploy.Instance, edenHosts []string, aio bool) error {
	if err := deploy.ValidateInstanceURL("instances."+string(inst.Type)+".url", inst.URL); err != nil {
		return err
	}
	host, port := inst.Endpoint()
	if err := deploy.ValidateHost("instances."+string(inst.Type)+".url", host); err != nil {
		return err
	}
	im.str("server_name", bracketIPv6(host))
	im.int("listen_port", port)
	im.bool("listen_ipv6", isIPv6(host))
	uport := strconv.Itoa(inst.Type.UWSGIPort())
	var ups []string
	if aio {
		ups = []string{"127.0.0.1:" + uport}
	} else {
		for _, h := range edenHosts {
			ups = append(ups, bracketIPv6(h)+":"+uport)
		}
	}
	im.list("upstreams", ups)
	return nil
}

func isIPv6(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.Is6()
}

func bracketIPv6(h string) string {
	if isIPv6(h) {
		return "[" + h + "]"
	}
	return h
}

// hbaAddress is how pg_hba.conf names a client host: an address with its
// full prefix length, or a DNS name as is.
func hbaAddress(h string) string {
	a, err := netip.ParseAddr(h)
	if err != nil {
		return h
	}
	return netip.PrefixFrom(a, a.BitLen()).String()
}

// checkUserText refuses, as a defence in depth, deployment strings that
// are not valid UTF-8 or hold NUL: YAML cannot carry them verbatim.
func checkUserText(d *deploy.Deployment) error {
	fields := []struct{ name, value string }{
		{"name", d.Name}, {"eden.url", d.Eden.URL}, {"eden.branch", d.Eden.Branch},
		{"web2py.url", d.Web2py.URL}, {"web2py.branch", d.Web2py.Branch},
		{"template", d.Template}, {"country", d.Country},
		{"admin_email", d.AdminEmail}, {"sender_email", d.SenderEmail},
	}
	for i, p := range d.Prepopulate {
		fields = append(fields, struct{ name, value string }{fmt.Sprintf("prepopulate[%d]", i), p})
	}
	for _, f := range fields {
		if !utf8.ValidString(f.value) || strings.ContainsRune(f.value, 0) {
			return deploy.Invalid(f.name, "must be valid UTF-8 without NUL characters")
		}
	}
	return nil
}

// addTree adds every file under dir of fsys to a bundle, under prefix.
func addTree(add func(name string, data []byte), fsys fs.FS, dir, prefix string) error {
	return fs.WalkDir(fsys, dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if dir != "." {
			p = strings.TrimPrefix(p, dir+"/")
		}
		add(path.Join(prefix, p), data)
		return nil
	})
}
