package deploy

import (
	"fmt"
	"time"
)

// Role is what a server does in a deployment.
type Role string

// The roles. A deployment is either one RoleAll server, or 3-tier: at least
// one each of RoleDB, RoleEden and RoleWebServer.
const (
	RoleAll       Role = "all"       // database, Eden (uWSGI) and web server on one host
	RoleDB        Role = "db"        // PostgreSQL with PostGIS
	RoleEden      Role = "eden"      // web2py + Eden served by uWSGI
	RoleWebServer Role = "webserver" // nginx in front of the eden hosts
)

// Roles lists every role in the order a 3-tier deploy visits them.
var Roles = []Role{RoleDB, RoleEden, RoleWebServer}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAll, RoleDB, RoleEden, RoleWebServer:
		return true
	}
	return false
}

// Origin says how a server became part of a deployment.
type Origin string

// The origins of a server.
const (
	OriginDeclared    Origin = "declared"    // named by the user
	OriginAutoscaling Origin = "autoscaling" // joined by an Auto Scaling launch lifecycle hook
)

// Server is one host of a deployment.
type Server struct {
	// Host is how the control plane and the other tiers reach the server: an
	// IPv4 or IPv6 address or a DNS name. It is unique across deployments.
	Host string `json:"host" yaml:"host"`
	Role Role   `json:"role" yaml:"role"`
	// InstanceID is the EC2 instance ID (i-...), when the server is one.
	InstanceID string    `json:"instance_id,omitempty" yaml:"instance_id,omitempty"`
	Origin     Origin    `json:"origin" yaml:"origin"`
	AddedAt    time.Time `json:"added_at" yaml:"added_at"`
}

// InstanceType is the kind of an Eden instance; a deployment has at most one
// instance of each type.
type InstanceType string

// The instance types.
const (
	InstanceProd  InstanceType = "prod"
	InstanceDemo  InstanceType = "demo"
	InstanceTest  InstanceType = "test"
	InstanceSetup InstanceType = "setup"
)

// InstanceTypes lists every instance type.
var InstanceTypes = []InstanceType{InstanceProd, InstanceDemo, InstanceTest, InstanceSetup}

// Valid reports whether t is a known instance type.
func (t InstanceType) Valid() bool {
	switch t {
	case InstanceProd, InstanceDemo, InstanceTest, InstanceSetup:
		return true
	}
	return false
}

// UWSGIPort is the port the instance's uWSGI service listens on (Eden's own
// convention): prod 59025, test 59026, demo 59027, setup 59028.
func (t InstanceType) UWSGIPort() int {
	switch t {
	case InstanceProd:
		return 59025
	case InstanceTest:
		return 59026
	case InstanceDemo:
		return 59027
	case InstanceSetup:
		return 59028
	}
	return 0
}

// Home is the directory the instance's web2py lives in: prod in
// /home/web2py (linked from /home/prod), the others in /home/<type>.
func (t InstanceType) Home() string {
	if t == InstanceProd {
		return "/home/web2py"
	}
	return "/home/" + string(t)
}

// DatabaseName is the PostgreSQL database of the instance: "sahana" for
// prod, "sahana-<type>" for the others.
func (t InstanceType) DatabaseName() string {
	if t == InstanceProd {
		return "sahana"
	}
	return "sahana-" + string(t)
}

// DefaultHTTPPort is the port nginx listens on for the instance when its
// URL names none: 80 for the first instance, and a port of its own for each
// later one so instances on one host never collide.
func (t InstanceType) DefaultHTTPPort(first bool) int {
	if first {
		return 80
	}
	return 8000 + t.UWSGIPort()%100
}

// InstanceStatus is where an instance is in its life.
type InstanceStatus string

// The instance statuses.
const (
	InstancePending   InstanceStatus = "pending"   // created, its deploy run not finished
	InstanceDeploying InstanceStatus = "deploying" // its deploy run is running
	InstanceDeployed  InstanceStatus = "deployed"  // its deploy run succeeded
	InstanceFailed    InstanceStatus = "failed"    // its deploy run failed or was cancelled
)

// Instance is one Eden instance of a deployment, with the settings behind
// its models/000_config.py.
type Instance struct {
	Type   InstanceType   `json:"type" yaml:"type"`
	URL    string         `json:"url" yaml:"url"`
	Status InstanceStatus `json:"status" yaml:"status"`
	// DeployRunID is the run that installs (or installed) the instance.
	DeployRunID string `json:"deploy_run_id,omitempty" yaml:"deploy_run_id,omitempty"`
	// Settings are the user-editable values behind 000_config.py.
	Settings Settings `json:"settings" yaml:"settings"`
	// SettingsVersion grows by one each time Settings change; an edit must
	// name the version it read.
	SettingsVersion int `json:"settings_version" yaml:"settings_version"`
	// TLS is how the instance's HTTPS is done (see EffectiveTLS for an
	// instance stored before it was recorded).
	TLS       TLS       `json:"tls,omitzero" yaml:"tls,omitempty"`
	CreatedAt time.Time `json:"created_at" yaml:"created_at"`
	UpdatedAt time.Time `json:"updated_at" yaml:"updated_at"`
}

// Repo is a git repository and the ref to check out: a branch, a tag or a
// full commit hash. A pull follows a branch; a tag or a commit stays put.
type Repo struct {
	URL    string `json:"url" yaml:"url"`
	Branch string `json:"branch" yaml:"branch"`
}

// Web2pyCommit is web2py 2.21.2, the release Sahana Eden runs on (Eden does
// not run on web2py 3, and web2py 2.x needs Python < 3.12 or Eden Deploy's
// shim for it); Sahana's own deployment roles pin the same commit.
const Web2pyCommit = "31905858b7f2cf72ce778ea8108cbbbb4f721f15"

// Defaults for the repositories a deployment checks out: sources that run
// on the supported servers. (eden-stable, Eden 1.1.1, imports the parser
// module, which Python 3.10 and later no longer have.)
var (
	DefaultEdenRepo   = Repo{URL: "https://github.com/sahana/eden.git", Branch: "master"}
	DefaultWeb2pyRepo = Repo{URL: "https://github.com/web2py/web2py.git", Branch: Web2pyCommit}
)

// Deployment is a set of servers running Sahana Eden, with its instances.
type Deployment struct {
	ID    string `json:"id" yaml:"id"`
	Name  string `json:"name" yaml:"name"`
	Owner string `json:"owner" yaml:"owner"`

	Eden        Repo     `json:"eden" yaml:"eden"`
	Web2py      Repo     `json:"web2py" yaml:"web2py"`
	Template    string   `json:"template" yaml:"template"`
	Prepopulate []string `json:"prepopulate" yaml:"prepopulate"`
	Country     string   `json:"country,omitempty" yaml:"country,omitempty"`
	AdminEmail  string   `json:"admin_email" yaml:"admin_email"`
	SenderEmail string   `json:"sender_email" yaml:"sender_email"`
	WebServer   string   `json:"web_server" yaml:"web_server"` // "nginx"
	Database    string   `json:"database" yaml:"database"`     // "postgresql"

	// Target is how runs reach the servers: TargetSSH (from the control
	// host, with SSHUser and a key kept in the secret store) or TargetSSM
	// (SSM Run Command on EC2 instances).
	Target  Target `json:"target" yaml:"target"`
	SSHUser string `json:"ssh_user,omitempty" yaml:"ssh_user,omitempty"`

	Servers   []Server   `json:"servers" yaml:"servers"`
	Instances []Instance `json:"instances" yaml:"instances"`
	// TLS are the default TLS options of the deployment's instances.
	TLS TLSOptions `json:"tls,omitzero" yaml:"tls,omitempty"`

	// Degraded, when not empty, says why the deployment cannot work as
	// declared (for example its only db server left the Auto Scaling group).
	Degraded string `json:"degraded,omitempty" yaml:"degraded,omitempty"`

	// Version grows by one with every stored change; updates name the
	// version they read, and a stale one is a conflict.
	Version   int       `json:"version" yaml:"version"`
	CreatedAt time.Time `json:"created_at" yaml:"created_at"`
	UpdatedAt time.Time `json:"updated_at" yaml:"updated_at"`
}

// Target is how a deployment's servers are reached.
type Target string

// The targets.
const (
	TargetSSH Target = "ssh"
	TargetSSM Target = "ssm"
)

// Instance returns the instance of type t, or nil.
func (d *Deployment) Instance(t InstanceType) *Instance {
	for i := range d.Instances {
		if d.Instances[i].Type == t {
			return &d.Instances[i]
		}
	}
	return nil
}

// Server returns the server with host, or nil.
func (d *Deployment) Server(host string) *Server {
	for i := range d.Servers {
		if d.Servers[i].Host == host {
			return &d.Servers[i]
		}
	}
	return nil
}

// HostsOf returns the hosts of every server with role r, in declaration
// order.
func (d *Deployment) HostsOf(r Role) []string {
	var hs []string
	for _, s := range d.Servers {
		if s.Role == r {
			hs = append(hs, s.Host)
		}
	}
	return hs
}

// AllInOne reports whether the deployment is one server with role all.
func (d *Deployment) AllInOne() bool {
	return len(d.Servers) == 1 && d.Servers[0].Role == RoleAll
}

// HostsFor returns the hosts that play role r for the deployment's
// topology: on an all-in-one deployment the single server plays every role.
func (d *Deployment) HostsFor(r Role) []string {
	if d.AllInOne() {
		return []string{d.Servers[0].Host}
	}
	return d.HostsOf(r)
}

// FirstInstance returns the instance the deployment was created with.
func (d *Deployment) FirstInstance() *Instance {
	if len(d.Instances) == 0 {
		return nil
	}
	return &d.Instances[0]
}

// String names the deployment for logs.
func (d *Deployment) String() string { return fmt.Sprintf("deployment %s (%s)", d.ID, d.Name) }
