package deploy

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

var (
	dnsLabel        = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	templatePattern = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)
	prepopPattern   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./:-]*$`)
	countryPattern  = regexp.MustCompile(`^[A-Z]{2}$`)
	sshUserPattern  = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	ec2IDPattern    = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
)

// ValidateHost checks that h is an IPv4 or IPv6 address or a DNS name:
// what may reach an inventory, an nginx upstream or pg_hba.
func ValidateHost(field, h string) error {
	if h == "" {
		return Invalid(field, "is required")
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return Invalid(field, "an address with a zone (%%) is not supported")
		}
		if a.IsUnspecified() {
			return Invalid(field, "the unspecified address cannot be a server")
		}
		return nil
	}
	name := strings.TrimSuffix(h, ".")
	if len(name) > 253 {
		return Invalid(field, "a DNS name is at most 253 characters")
	}
	for _, l := range strings.Split(name, ".") {
		if !dnsLabel.MatchString(l) {
			return Invalid(field, "%q is neither an IP address nor a DNS name", h)
		}
	}
	// Every label numeric: not a name, and not an address netip accepts
	// (checked by character, as a number may be too long for an int).
	if strings.Trim(name, "0123456789.") == "" {
		return Invalid(field, "%q is not a valid IPv4 address", h)
	}
	return nil
}

// Eden's password rules (web2py's CRYPT validator as Eden configures it):
// at least auth.password_min_length characters (4 unless the settings say
// otherwise); web2py cuts a longer one at 1024 characters and reads
// "******" as "unchanged".
const (
	DefaultPasswordMinLength = 4
	MaxPasswordLength        = 1024
)

// ValidateAdminPassword checks a password the user chose for Eden's
// administrator as Eden would, with minLength from the instance's settings
// (DefaultPasswordMinLength when zero), and refuses what could not reach
// Eden's login form intact: control characters (a newline included) and
// text that is not UTF-8.
func ValidateAdminPassword(field, pw string, minLength int) error {
	if minLength <= 0 {
		minLength = DefaultPasswordMinLength
	}
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return Invalid(field, "must be valid UTF-8")
	case strings.IndexFunc(pw, unicode.IsControl) >= 0:
		return Invalid(field, "must not hold control characters such as a newline: it could not be typed into Eden's login form")
	case n < minLength:
		return Invalid(field, "Eden refuses a password shorter than %d characters (settings auth.password_min_length)", minLength)
	case n > MaxPasswordLength:
		return Invalid(field, "Eden reads at most %d characters of a password", MaxPasswordLength)
	case pw == "******":
		return Invalid(field, "Eden reads ****** as \"password unchanged\"")
	}
	return nil
}

// ValidateRepo checks a git URL and branch: the URL needs a scheme (https,
// http, ssh, git or file) and neither may be read as a command-line option.
func ValidateRepo(field string, r Repo) error {
	var errs []error
	u, err := url.Parse(r.URL)
	switch {
	case r.URL == "":
		errs = append(errs, Invalid(field+".url", "is required"))
	case strings.HasPrefix(r.URL, "-"):
		errs = append(errs, Invalid(field+".url", "must not start with '-'"))
	case !utf8.ValidString(r.URL):
		errs = append(errs, Invalid(field+".url", "must be valid UTF-8"))
	case strings.IndexFunc(r.URL, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0:
		errs = append(errs, Invalid(field+".url", "must not contain spaces or control characters"))
	case err != nil:
		errs = append(errs, Invalid(field+".url", "is not a URL: %v", err))
	case u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "ssh" && u.Scheme != "git" && u.Scheme != "file":
		errs = append(errs, Invalid(field+".url", "needs a scheme of https, http, ssh, git or file"))
	case hasPassword(u):
		errs = append(errs, Invalid(field+".url", "must not hold a password: credentials belong in the secret store, not in a URL that reaches bundles and logs"))
	case u.Scheme != "file" && u.Host == "":
		errs = append(errs, Invalid(field+".url", "needs a host"))
	case u.Scheme != "file" && ValidateHost(field+".url", u.Hostname()) != nil:
		// A host such as "-oProxyCommand=..." would reach ssh as an option.
		errs = append(errs, Invalid(field+".url", "host %q is neither an IP address nor a DNS name", u.Hostname()))
	case u.Scheme == "file" && !strings.HasPrefix(u.Path, "/"):
		errs = append(errs, Invalid(field+".url", "a file URL needs an absolute path"))
	case len(r.URL) > 1024:
		errs = append(errs, Invalid(field+".url", "at most 1024 characters"))
	}
	if err := ValidateBranch(field+".branch", r.Branch); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidateBranch checks a git branch or tag name against git's ref rules,
// and refuses one that starts with '-'.
func ValidateBranch(field, b string) error {
	switch {
	case b == "":
		return Invalid(field, "is required")
	case len(b) > 255:
		return Invalid(field, "at most 255 characters")
	case strings.HasPrefix(b, "-"):
		return Invalid(field, "must not start with '-'")
	case !utf8.ValidString(b):
		return Invalid(field, "must be valid UTF-8")
	case strings.HasPrefix(b, "/") || strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") ||
		strings.HasSuffix(b, ".lock") || strings.Contains(b, "..") || strings.Contains(b, "//") ||
		strings.HasPrefix(b, ".") || strings.Contains(b, "/.") || strings.Contains(b, ".lock/") ||
		strings.Contains(b, "@{") || b == "@":
		return Invalid(field, "%q is not a valid git ref name", b)
	case strings.IndexFunc(b, func(c rune) bool {
		return c < 0x20 || c == 0x7f || unicode.IsSpace(c) || strings.ContainsRune(`~^:?*[\`, c)
	}) >= 0:
		return Invalid(field, "%q holds a character git refs cannot have", b)
	}
	return nil
}

// ValidateEmail checks a bare e-mail address (no display name).
func ValidateEmail(field, s string) error {
	if s == "" {
		return Invalid(field, "is required")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 {
		return Invalid(field, "%q is not an e-mail address", s)
	}
	at := strings.LastIndexByte(s, '@')
	if ValidateHost(field, s[at+1:]) != nil {
		return Invalid(field, "%q has an invalid domain", s)
	}
	return nil
}

// ValidateInstanceURL checks an instance URL: http or https, a host that
// ValidateHost accepts, an optional port, and no path beyond "/".
func ValidateInstanceURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return Invalid(field, "is not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Invalid(field, "must start with http:// or https://")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return Invalid(field, "must be scheme, host and optional port only (Eden is served at the root)")
	}
	if err := ValidateHost(field, u.Hostname()); err != nil {
		return err
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Invalid(field, "port %q is out of range", p)
		}
	}
	return nil
}

// InstanceEndpoint returns the host and port nginx serves the instance on,
// from its (validated) URL.
func InstanceEndpoint(rawURL string) (host string, port int, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", 0, Invalid("url", "is not a URL: %v", err)
	}
	port = 80
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil {
			return "", 0, Invalid("url", "port %q is not a number", p)
		}
	}
	// Without a port, 80 even for an https URL: only an instance whose TLS
	// nginx terminates is served on 443 (Instance.Endpoint).
	return u.Hostname(), port, nil
}

// ValidateName checks a deployment name: 1 to 100 printable characters.
func ValidateName(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return Invalid(field, "is required")
	case len(s) > 100:
		return Invalid(field, "at most 100 characters")
	case strings.IndexFunc(s, func(c rune) bool { return !unicode.IsPrint(c) }) >= 0:
		return Invalid(field, "must be printable characters only")
	}
	return checkText(field, s, 100)
}

func validateEnum[T ~string](field string, v T, valid bool) error {
	if !valid {
		return Invalid(field, "unknown value %q", string(v))
	}
	return nil
}

// ValidateServers checks the topology rules: exactly one `all` server and
// nothing else, or at least one each of db, eden and webserver and no
// `all`; every host valid and appearing once.
func ValidateServers(servers []Server) error {
	var errs []error
	seen := map[string]int{}
	count := map[Role]int{}
	for i, s := range servers {
		field := fmt.Sprintf("servers[%d]", i)
		if err := ValidateHost(field+".host", s.Host); err != nil {
			errs = append(errs, err)
		}
		if !s.Role.Valid() {
			errs = append(errs, Invalid(field+".role", "unknown role %q: use all, db, eden or webserver", s.Role))
		}
		if s.InstanceID != "" && !ec2IDPattern.MatchString(s.InstanceID) {
			errs = append(errs, Invalid(field+".instance_id", "%q is not an EC2 instance ID", s.InstanceID))
		}
		key := strings.ToLower(strings.TrimSuffix(s.Host, "."))
		if j, dup := seen[key]; dup && s.Host != "" {
			errs = append(errs, Invalid(field+".host", "host %s already appears as servers[%d]", s.Host, j))
		}
		seen[key] = i
		count[s.Role]++
	}
	switch {
	case len(servers) == 0:
		errs = append(errs, Invalid("servers", "at least one server is required"))
	case count[RoleAll] > 0 && len(servers) > 1:
		errs = append(errs, Invalid("servers", "a server with role all must be the only server"))
	case count[RoleAll] == 0:
		for _, r := range Roles {
			if count[r] == 0 {
				errs = append(errs, Invalid("servers", "a 3-tier deployment needs at least one %s server", r))
			}
		}
	}
	return errors.Join(errs...)
}

func hasPassword(u *url.URL) bool {
	_, set := u.User.Password()
	return u.User != nil && set
}
