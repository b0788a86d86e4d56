package deploy_test

import (
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestValidateHost(t *testing.T) {
	tests := []struct {
		host   string
		ok     bool
		reason string // part of the reason when refused
	}{
		{"10.0.0.5", true, ""},
		{"192.168.1.254", true, ""},
		{"2001:db8::10", true, ""},
		{"::1", true, ""},
		{"::ffff:10.0.0.5", true, ""},
		{"eden.example.org", true, ""},
		{"eden.example.org.", true, ""},
		{"EDEN-1.Example.ORG", true, ""},
		{"localhost", true, ""},
		{"xn--bcher-kva.example", true, ""},
		{"a1.example", true, ""},
		{strings.Repeat("a", 63) + ".example.org", true, ""},

		{"", false, "is required"},
		{"-oProxyCommand=x", false, "neither an IP address nor a DNS name"},
		{"a b", false, "neither"},
		{"host;rm", false, "neither"},
		{"host;rm -rf /", false, "neither"},
		{"{{x}}", false, "neither"},
		{"$(id)", false, "neither"},
		{"a..b", false, "neither"},
		{".example.org", false, "neither"},
		{".", false, "neither"},
		{"-eden.example.org", false, "neither"},
		{"eden-.example.org", false, "neither"},
		{"under_score.example.org", false, "neither"},
		{strings.Repeat("a", 64) + ".example.org", false, "neither"},
		{strings.Repeat("a.", 150), false, "253"},
		{strings.Repeat("abcdefghi.", 30), false, "253"},
		{"[2001:db8::1]", false, "neither"},
		{"eden.example.org:22", false, "neither"},
		{"1.2.3", false, "not a valid IPv4"},
		{"1.2.3.4.5", false, "not a valid IPv4"},
		{"256.1.1.1", false, "not a valid IPv4"},
		{"010.0.0.1", false, "not a valid IPv4"},
		{"12345", false, "not a valid IPv4"},
		{"12345678901234567890.1", false, "not a valid IPv4"},
		{"1.2.3.4.", false, "not a valid IPv4"},
		{"::", false, "unspecified"},
		{"0.0.0.0", false, "unspecified"},
		{"fe80::1%eth0", false, "zone"},
		{"1::2::3", false, "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			err := deploy.ValidateHost("servers[0].host", tt.host)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateHost(%q) = %v, want accepted", tt.host, err)
				}
				return
			}
			checkKind(t, err, deploy.KindInvalid, "servers[0].host")
			checkProblems(t, err, invalid("servers[0].host"), tt.reason)
		})
	}
}

func TestValidateRepo(t *testing.T) {
	tests := []struct {
		name string
		repo deploy.Repo
		want []problem
	}{
		{"https", deploy.Repo{URL: "https://github.com/sahana/eden.git", Branch: "master"}, nil},
		{"http", deploy.Repo{URL: "http://git.example.org/eden.git", Branch: "master"}, nil},
		{"ssh with user", deploy.Repo{URL: "ssh://git@github.com/sahana/eden.git", Branch: "master"}, nil},
		{"ssh with port", deploy.Repo{URL: "ssh://git@git.example.org:2222/eden.git", Branch: "master"}, nil},
		{"git", deploy.Repo{URL: "git://git.example.org/eden.git", Branch: "R-2.21.2"}, nil},
		{"file", deploy.Repo{URL: "file:///srv/git/eden.git", Branch: "master"}, nil},
		{"IPv6 host", deploy.Repo{URL: "https://[2001:db8::1]/eden.git", Branch: "master"}, nil},
		{"scheme case-insensitive", deploy.Repo{URL: "HTTPS://github.com/sahana/eden.git", Branch: "master"}, nil},

		{"empty URL", deploy.Repo{Branch: "master"}, invalid("eden.url")},
		{"password in URL", deploy.Repo{URL: "https://user:s3cret@git.example.org/eden.git", Branch: "master"}, invalid("eden.url")},
		{"empty password in URL", deploy.Repo{URL: "https://user:@git.example.org/eden.git", Branch: "master"}, invalid("eden.url")},
		{"no scheme", deploy.Repo{URL: "github.com/sahana/eden.git", Branch: "master"}, invalid("eden.url")},
		{"scp-like", deploy.Repo{URL: "git@github.com:sahana/eden.git", Branch: "master"}, invalid("eden.url")},
		{"ftp", deploy.Repo{URL: "ftp://example.org/eden.git", Branch: "master"}, invalid("eden.url")},
		{"ext transport", deploy.Repo{URL: "ext::sh", Branch: "master"}, invalid("eden.url")},
		{"option", deploy.Repo{URL: "-u", Branch: "master"}, invalid("eden.url")},
		{"upload-pack option", deploy.Repo{URL: "--upload-pack=touch /tmp/x", Branch: "master"}, invalid("eden.url")},
		{"option as ssh host", deploy.Repo{URL: "ssh://-oProxyCommand=touch/repo", Branch: "master"}, invalid("eden.url")},
		{"space", deploy.Repo{URL: "https://github.com/sahana/e den.git", Branch: "master"}, invalid("eden.url")},
		{"newline", deploy.Repo{URL: "https://github.com/sahana/eden.git\n", Branch: "master"}, invalid("eden.url")},
		{"no host", deploy.Repo{URL: "https:///sahana/eden.git", Branch: "master"}, invalid("eden.url")},
		{"bad host", deploy.Repo{URL: "https://git;rm/eden.git", Branch: "master"}, invalid("eden.url")},
		{"relative file", deploy.Repo{URL: "file:srv/eden.git", Branch: "master"}, invalid("eden.url")},
		{"too long", deploy.Repo{URL: "https://github.com/" + strings.Repeat("a", 1020), Branch: "master"}, invalid("eden.url")},
		{"empty branch", deploy.Repo{URL: "https://github.com/sahana/eden.git"}, invalid("eden.branch")},
		{"option branch", deploy.Repo{URL: "https://github.com/sahana/eden.git", Branch: "--upload-pack=x"}, invalid("eden.branch")},
		{"both bad", deploy.Repo{URL: "-x", Branch: "-y"}, invalid("eden.url", "eden.branch")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, deploy.ValidateRepo("eden", tt.repo), tt.want)
		})
	}
}

func TestValidateBranch(t *testing.T) {
	tests := []struct {
		branch string
		ok     bool
	}{
		{"master", true},
		{"\xff", false},
		{"R-2.21.2", true},
		{"feature/setup-wizard", true},
		{"v1.0", true},
		{"user@host", true},
		{"release_2025.11", true},
		{strings.Repeat("b", 255), true},

		{"", false},
		{strings.Repeat("b", 256), false},
		{"-b", false},
		{"--orphan", false},
		{"a..b", false},
		{"..", false},
		{"a@{1}", false},
		{"@", false},
		{"a~1", false},
		{"a^", false},
		{"a:b", false},
		{"a?", false},
		{"a*", false},
		{"a[0]", false},
		{`a\b`, false},
		{"a b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\x7fb", false},
		{"a\u00a0b", false},
		{"topic.lock", false},
		{"topic/", false},
		{"topic.", false},
		{"/topic", false},
		{"a//b", false},
		{".hidden", false},
		{"feature/.hidden", false},
		{"topic.lock/b", false},
	}
	for _, tt := range tests {
		t.Run(tt.branch, func(t *testing.T) {
			err := deploy.ValidateBranch("eden.branch", tt.branch)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateBranch(%q) = %v, want accepted", tt.branch, err)
				}
				return
			}
			checkKind(t, err, deploy.KindInvalid, "eden.branch")
		})
	}
}

func TestValidateEmail(t *testing.T) {
	tests := []struct {
		email string
		ok    bool
	}{
		{"admin@example.org", true},
		{"first.last+eden@mail.example.org", true},
		{"root@localhost", true},
		{"admin@10.0.0.5", true},

		{"", false},
		{"admin", false},
		{"admin@", false},
		{"@example.org", false},
		{"Admin <admin@example.org>", false},
		{"<admin@example.org>", false},
		{"admin@example.org\n", false},
		{"admin@example.org, b@example.org", false},
		{"admin@-bad.example.org", false},
		{"admin@exa_mple.org", false},
		{"admin@1.2.3", false},
		{"admin@[10.0.0.5]", false},
		{"a@" + strings.Repeat("b", 250) + ".org", false},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			err := deploy.ValidateEmail("admin_email", tt.email)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateEmail(%q) = %v, want accepted", tt.email, err)
				}
				return
			}
			checkKind(t, err, deploy.KindInvalid, "admin_email")
		})
	}
}

func TestValidateInstanceURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://eden.example.org", true},
		{"https://eden.example.org/", true},
		{"http://eden.example.org:8080", true},
		{"http://10.0.0.5:1", true},
		{"http://10.0.0.5:65535", true},
		{"http://[2001:db8::1]:8027", true},
		{"http://[::1]", true},
		{"HTTPS://eden.example.org", true},

		{"", false},
		{"eden.example.org", false},
		{"ftp://eden.example.org", false},
		{"javascript:alert(1)", false},
		{"http://", false},
		{"https://eden.example.org/eden", false},
		{"https://eden.example.org/?a=b", false},
		{"https://eden.example.org/#top", false},
		{"https://admin@eden.example.org", false},
		{"https://admin:secret@eden.example.org", false},
		{"http://eden.example.org:0", false},
		{"http://eden.example.org:65536", false},
		{"http://eden.example.org:99999", false},
		{"http://eden.example.org:http", false},
		{"http://-eden.example.org", false},
		{"http://eden_1.example.org", false},
		{"http://[::]", false},
		{"http://0.0.0.0", false},
		{"http://1.2.3", false},
		{"http://{{x}}", false},
		{"http://[fe80::1%25eth0]", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := deploy.ValidateInstanceURL("instance.url", tt.url)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateInstanceURL(%q) = %v, want accepted", tt.url, err)
				}
				return
			}
			checkKind(t, err, deploy.KindInvalid, "instance.url")
		})
	}
}

func TestInstanceEndpoint(t *testing.T) {
	tests := []struct {
		url  string
		host string
		port int
	}{
		{"http://eden.example.org", "eden.example.org", 80},
		{"http://eden.example.org:8026", "eden.example.org", 8026},
		// TLS ends in front of nginx: https without a port is still 80.
		{"https://eden.example.org/", "eden.example.org", 80},
		{"http://[2001:db8::1]:8027", "2001:db8::1", 8027},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			host, port, err := deploy.InstanceEndpoint(tt.url)
			if err != nil || host != tt.host || port != tt.port {
				t.Errorf("InstanceEndpoint(%q) = %q, %d, %v; want %q, %d, nil", tt.url, host, port, err, tt.host, tt.port)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"Eden NZ", true},
		{"Ōtautahi relief — 2025", true},
		{`It's "quoted" \ {{ fine }}`, true},
		{strings.Repeat("n", 100), true},
		{"", false},
		{"   ", false},
		{strings.Repeat("n", 101), false},
		{"two\nlines", false},
		{"tab\there", false},
		{"bad \xff utf-8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := deploy.ValidateName("name", tt.name)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want accepted", tt.name, err)
				}
				return
			}
			checkKind(t, err, deploy.KindInvalid, "name")
		})
	}
}

func TestValidateServers(t *testing.T) {
	srv := func(host string, role deploy.Role) deploy.Server { return deploy.Server{Host: host, Role: role} }
	threeTier := func(extra ...deploy.Server) []deploy.Server {
		return append([]deploy.Server{
			srv("db1.example.org", deploy.RoleDB),
			srv("eden1.example.org", deploy.RoleEden),
			srv("web1.example.org", deploy.RoleWebServer),
		}, extra...)
	}
	tests := []struct {
		name    string
		servers []deploy.Server
		want    []problem
		reasons []string
	}{
		{"one all", []deploy.Server{srv("eden.example.org", deploy.RoleAll)}, nil, nil},
		{"3-tier", threeTier(), nil, nil},
		{"3-tier with more eden and web servers", threeTier(srv("eden2.example.org", deploy.RoleEden), srv("10.0.0.7", deploy.RoleWebServer), srv("2001:db8::2", deploy.RoleDB)), nil, nil},
		{"EC2 instance IDs", []deploy.Server{{Host: "10.0.0.5", Role: deploy.RoleAll, InstanceID: "i-0123456789abcdef0"}}, nil, nil},
		{"short EC2 instance ID", []deploy.Server{{Host: "10.0.0.5", Role: deploy.RoleAll, InstanceID: "i-01234567"}}, nil, nil},

		{"none", nil, invalid("servers"), []string{"at least one server"}},
		{"all and a db", []deploy.Server{srv("a.example.org", deploy.RoleAll), srv("b.example.org", deploy.RoleDB)}, invalid("servers"), []string{"only server"}},
		{"two all", []deploy.Server{srv("a.example.org", deploy.RoleAll), srv("b.example.org", deploy.RoleAll)}, invalid("servers"), []string{"only server"}},
		{"3-tier and all", threeTier(srv("a.example.org", deploy.RoleAll)), invalid("servers"), []string{"only server"}},
		{"db only", []deploy.Server{srv("db1.example.org", deploy.RoleDB)}, invalid("servers", "servers"), []string{"eden server", "webserver server"}},
		{"no db", threeTier()[1:], invalid("servers"), []string{"db server"}},
		{"no eden", []deploy.Server{srv("db1.example.org", deploy.RoleDB), srv("web1.example.org", deploy.RoleWebServer)}, invalid("servers"), []string{"eden server"}},
		{"no webserver", threeTier()[:2], invalid("servers"), []string{"webserver server"}},
		{"duplicate host", threeTier(srv("eden1.example.org", deploy.RoleEden)), invalid("servers[3].host"), []string{"servers[1]"}},
		{"duplicate host in other case", threeTier(srv("EDEN1.Example.org", deploy.RoleWebServer)), invalid("servers[3].host"), []string{"servers[1]"}},
		{"duplicate host with trailing dot", threeTier(srv("eden1.example.org.", deploy.RoleEden)), invalid("servers[3].host"), []string{"servers[1]"}},
		{"duplicate IP", threeTier(srv("10.0.0.5", deploy.RoleEden), srv("10.0.0.5", deploy.RoleWebServer)), invalid("servers[4].host"), nil},
		{"bad role", threeTier(srv("app.example.org", "app")), invalid("servers[3].role"), []string{`"app"`}},
		{"empty role", threeTier(srv("app.example.org", "")), invalid("servers[3].role"), nil},
		{"role is case-sensitive", threeTier(srv("app.example.org", "DB")), invalid("servers[3].role"), nil},
		{"bad host", threeTier(srv("-oProxyCommand=x", deploy.RoleEden)), invalid("servers[3].host"), nil},
		{"empty host", threeTier(srv("", deploy.RoleEden)), invalid("servers[3].host"), []string{"is required"}},
		{"EC2 ID without prefix", []deploy.Server{{Host: "10.0.0.5", Role: deploy.RoleAll, InstanceID: "0123456789abcdef0"}}, invalid("servers[0].instance_id"), nil},
		{"EC2 ID too short", []deploy.Server{{Host: "10.0.0.5", Role: deploy.RoleAll, InstanceID: "i-123"}}, invalid("servers[0].instance_id"), nil},
		{"EC2 ID upper case", []deploy.Server{{Host: "10.0.0.5", Role: deploy.RoleAll, InstanceID: "I-0123456789ABCDEF0"}}, invalid("servers[0].instance_id"), nil},
		{"EC2 ID with junk", []deploy.Server{{Host: "10.0.0.5", Role: deploy.RoleAll, InstanceID: "i-0123456789abcdef0;id"}}, invalid("servers[0].instance_id"), nil},
		{"every problem", []deploy.Server{srv("a b", deploy.RoleDB), {Host: "db2.example.org", Role: "x", InstanceID: "i-1"}}, invalid("servers[0].host", "servers[1].role", "servers[1].instance_id", "servers", "servers"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkProblems(t, deploy.ValidateServers(tt.servers), tt.want, tt.reasons...)
		})
	}
}
