package deploy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Spec is what a user asks for when creating a deployment. Zero fields take
// the documented defaults.
type Spec struct {
	Name        string       `json:"name" yaml:"name"`
	Eden        Repo         `json:"eden" yaml:"eden"`     // default DefaultEdenRepo
	Web2py      Repo         `json:"web2py" yaml:"web2py"` // default DefaultWeb2pyRepo
	Template    string       `json:"template" yaml:"template"`
	Prepopulate []string     `json:"prepopulate" yaml:"prepopulate"`
	Country     string       `json:"country" yaml:"country"`
	AdminEmail  string       `json:"admin_email" yaml:"admin_email"`
	SenderEmail string       `json:"sender_email" yaml:"sender_email"` // default AdminEmail
	WebServer   string       `json:"web_server" yaml:"web_server"`     // only "nginx"
	Database    string       `json:"database" yaml:"database"`         // only "postgresql"
	Target      Target       `json:"target" yaml:"target"`             // default ssh
	SSHUser     string       `json:"ssh_user" yaml:"ssh_user"`         // default root (ssh target)
	Servers     []ServerSpec `json:"servers" yaml:"servers"`
	Instance    InstanceSpec `json:"instance" yaml:"instance"`
	// TLS are the defaults of every instance's TLS options.
	TLS TLSOptions `json:"tls,omitzero" yaml:"tls,omitempty"`
}

// ServerSpec is a server as the user declares it.
type ServerSpec struct {
	Host       string `json:"host" yaml:"host"`
	Role       Role   `json:"role" yaml:"role"`
	InstanceID string `json:"instance_id,omitempty" yaml:"instance_id,omitempty"`
}

// InstanceSpec is an instance as the user asks for it.
type InstanceSpec struct {
	Type     InstanceType `json:"type" yaml:"type"`
	URL      string       `json:"url,omitempty" yaml:"url,omitempty"`           // default http://<first web server>[:port]
	Settings Settings     `json:"settings,omitempty" yaml:"settings,omitempty"` // on top of the derived ones
	// TLS overrides the deployment's TLS options for this instance, and
	// carries an own certificate and key.
	TLS TLSSpec `json:"tls,omitzero" yaml:"tls,omitempty"`
}

// Defaults for a Spec.
const (
	DefaultTemplate  = "default"
	DefaultWebServer = "nginx"
	DefaultDatabase  = "postgresql"
	DefaultSSHUser   = "root"
)

// Prepopulate options, as Eden means them: a first run imports the
// template's own list (for the default template default/base and default:
// roles, countries with their shapes, map configuration), then each option
// a deployment names, such as default/users (Eden's demo users),
// locations/NZ (a country's map configuration) or a template's own data
// set, in the order given. An empty list is the template's own list alone.
// Eden's demo data (settings.base.prepopulate_demo) is never added on its
// own: its users have well-known passwords.

// NewDeployment validates spec and returns the deployment it describes,
// owned by owner, with id and its first instance (status pending). Every
// problem in spec is reported, joined; each is an *Error of kind Invalid.
func NewDeployment(spec Spec, id, owner string, now time.Time) (*Deployment, error) {
	d := &Deployment{
		ID: id, Name: spec.Name, Owner: owner,
		Eden: spec.Eden, Web2py: spec.Web2py,
		Template: spec.Template, Prepopulate: slices.Clone(spec.Prepopulate), Country: spec.Country,
		AdminEmail: spec.AdminEmail, SenderEmail: spec.SenderEmail,
		WebServer: spec.WebServer, Database: spec.Database,
		Target: spec.Target, SSHUser: spec.SSHUser,
		TLS:     cloneTLSOptions(spec.TLS),
		Version: 0, CreatedAt: now, UpdatedAt: now,
	}
	if d.Eden == (Repo{}) {
		d.Eden = DefaultEdenRepo
	} else if d.Eden.Branch == "" {
		d.Eden.Branch = DefaultEdenRepo.Branch
	}
	if d.Web2py == (Repo{}) {
		d.Web2py = DefaultWeb2pyRepo
	} else if d.Web2py.Branch == "" {
		d.Web2py.Branch = DefaultWeb2pyRepo.Branch
	}
	if d.Template == "" {
		d.Template = DefaultTemplate
	}
	if d.Prepopulate == nil {
		d.Prepopulate = []string{}
	}
	if d.SenderEmail == "" {
		d.SenderEmail = d.AdminEmail
	}
	if d.WebServer == "" {
		d.WebServer = DefaultWebServer
	}
	if d.Database == "" {
		d.Database = DefaultDatabase
	}
	if d.Target == "" {
		d.Target = TargetSSH
	}
	if d.Target == TargetSSH && d.SSHUser == "" {
		d.SSHUser = DefaultSSHUser
	}
	for _, s := range spec.Servers {
		d.Servers = append(d.Servers, Server{Host: s.Host, Role: s.Role, InstanceID: s.InstanceID, Origin: OriginDeclared, AddedAt: now})
	}

	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if id == "" {
		add(Invalid("id", "is required"))
	}
	if owner == "" {
		add(Invalid("owner", "is required"))
	}
	add(ValidateName("name", d.Name))
	add(ValidateRepo("eden", d.Eden))
	add(ValidateRepo("web2py", d.Web2py))
	if !templatePattern.MatchString(d.Template) || len(d.Template) > 100 {
		add(Invalid("template", "%q is not an Eden template name (such as default or SSF)", d.Template))
	}
	if len(d.Prepopulate) > 20 {
		add(Invalid("prepopulate", "at most 20 entries"))
	}
	for i, p := range d.Prepopulate {
		if !prepopPattern.MatchString(p) || len(p) > 100 || containsDotDot(p) {
			add(Invalid(fmt.Sprintf("prepopulate[%d]", i), "%q is not a prepopulate option (such as default/users)", p))
		}
	}
	if d.Country != "" && !countryPattern.MatchString(d.Country) {
		add(Invalid("country", "%q is not an ISO 3166 two-letter country code such as NZ", d.Country))
	}
	add(ValidateEmail("admin_email", d.AdminEmail))
	// A sender defaulted from admin_email is not a second problem.
	if spec.SenderEmail != "" {
		add(ValidateEmail("sender_email", d.SenderEmail))
	}
	if d.WebServer != DefaultWebServer {
		add(Invalid("web_server", "only nginx is supported, not %q", d.WebServer))
	}
	if d.Database != DefaultDatabase {
		add(Invalid("database", "only postgresql is supported, not %q", d.Database))
	}
	switch d.Target {
	case TargetSSH:
		if !sshUserPattern.MatchString(d.SSHUser) {
			add(Invalid("ssh_user", "%q is not a user name", d.SSHUser))
		}
	case TargetSSM:
		if d.SSHUser != "" {
			add(Invalid("ssh_user", "is only for target ssh"))
		}
		for i, s := range d.Servers {
			if s.InstanceID == "" {
				add(Invalid(fmt.Sprintf("servers[%d].instance_id", i), "is required for target ssm"))
			}
		}
	default:
		add(Invalid("target", "unknown target %q: use ssh or ssm", d.Target))
	}
	add(ValidateServers(d.Servers))
	add(validateTLSOptions("tls", d.TLS))
	if spec.Instance.Type != InstanceProd && spec.Instance.Type != InstanceDemo {
		add(Invalid("instance.type", "the first instance must be prod or demo, not %q", spec.Instance.Type))
	}
	// What NewInstance checks of the user's own input, so that it is
	// reported together with every other problem.
	if spec.Instance.URL != "" {
		add(ValidateInstanceURL("instance.url", spec.Instance.URL))
	}
	if _, err := spec.Instance.Settings.Normalize(); err != nil {
		add(err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	inst, err := d.NewInstance(spec.Instance, now)
	if err != nil {
		return nil, err
	}
	d.Instances = []Instance{inst}
	return d, nil
}

func containsDotDot(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && s[i+1] == '.' {
			return true
		}
	}
	return false
}

// NewInstance validates spec against d and returns the instance (status
// pending) with its settings: those derived from the deployment
// (base.public_url, base.template, base.prepopulate, mail.sender,
// mail.approver, gis.countries) overlaid with spec.Settings. It does not
// add the instance to d.
func (d *Deployment) NewInstance(spec InstanceSpec, now time.Time) (Instance, error) {
	field := "instance"
	if !spec.Type.Valid() {
		return Instance{}, Invalid(field+".type", "unknown instance type %q: use prod, demo, test or setup", spec.Type)
	}
	if d.Instance(spec.Type) != nil {
		return Instance{}, Conflict(field+".type", "the deployment already has a %s instance", spec.Type)
	}
	url := spec.URL
	if url == "" {
		web := d.HostsFor(RoleWebServer)
		if len(web) == 0 {
			return Instance{}, Invalid(field+".url", "is required: the deployment has no web server to derive it from")
		}
		url = defaultURL(web[0], spec.Type.DefaultHTTPPort(len(d.Instances) == 0))
	}
	if err := ValidateInstanceURL(field+".url", url); err != nil {
		return Instance{}, err
	}
	tlsOf, err := d.resolveTLS(field+".url", field+".tls", url, spec.TLS, now)
	if err != nil {
		return Instance{}, err
	}
	if err := d.checkServed(field+".url", Instance{Type: spec.Type, URL: url, TLS: tlsOf}); err != nil {
		return Instance{}, err
	}
	// The instance URL is what nginx serves; a different public_url would
	// also make every later ReplaceSettings fail.
	if v, ok := spec.Settings["base.public_url"]; ok {
		if u, isString := v.(string); !isString || u != url {
			return Instance{}, Invalid("settings.base.public_url", "must be the instance URL %s (set instance.url instead)", url)
		}
	}
	settings := Settings{
		"base.public_url":  url,
		"base.template":    d.Template,
		"base.prepopulate": slices.Clone(d.Prepopulate),
		"mail.sender":      d.SenderEmail,
		"mail.approver":    d.AdminEmail,
	}
	if d.Country != "" {
		settings["gis.countries"] = []string{d.Country}
	}
	for k, v := range spec.Settings {
		settings[k] = v
	}
	norm, err := settings.Normalize()
	if err != nil {
		return Instance{}, err
	}
	return Instance{
		Type: spec.Type, URL: url, Status: InstancePending, TLS: tlsOf,
		Settings: norm, SettingsVersion: 1, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// checkServed returns a Conflict naming field if another instance of d
// already listens on one of inst's host and ports.
func (d *Deployment) checkServed(field string, inst Instance) error {
	host, _ := inst.Endpoint()
	for _, other := range d.Instances {
		if other.Type == inst.Type {
			continue
		}
		oh, _ := other.Endpoint()
		if !sameHost(oh, host) {
			continue
		}
		for _, p := range inst.ports() {
			if slices.Contains(other.ports(), p) {
				return Conflict(field, "%s: port %d of %s is already served by the %s instance", inst.URL, p, host, other.Type)
			}
		}
	}
	return nil
}

func cloneTLSOptions(o TLSOptions) TLSOptions {
	o.TrustedProxies = slices.Clone(o.TrustedProxies)
	if o.HSTSMaxAge != nil {
		v := *o.HSTSMaxAge
		o.HSTSMaxAge = &v
	}
	return o
}

// sameHost reports whether two host names are the same: DNS names are
// case-insensitive and may end with a dot.
func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}

func defaultURL(host string, port int) string {
	h := host
	if a := ipv6Literal(host); a {
		h = "[" + host + "]"
	}
	if port == 80 {
		return "http://" + h
	}
	return fmt.Sprintf("http://%s:%d", h, port)
}

func ipv6Literal(h string) bool {
	for i := 0; i < len(h); i++ {
		if h[i] == ':' {
			return true
		}
	}
	return false
}
