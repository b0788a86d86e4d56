package deploy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TLSMode says where an instance's HTTPS is terminated.
type TLSMode string

// The TLS modes.
const (
	// TLSNone serves plain HTTP: the mode of an http:// URL.
	TLSNone TLSMode = "none"
	// TLSACME has nginx serve HTTPS with a certificate that certbot
	// obtains from an ACME CA (Let's Encrypt) over HTTP-01, and renews.
	TLSACME TLSMode = "acme"
	// TLSOwn has nginx serve HTTPS with the user's certificate chain and
	// private key (the key kept in the secret store only).
	TLSOwn TLSMode = "own"
	// TLSFront leaves TLS to a load balancer in front of nginx: nginx
	// serves HTTP and believes X-Forwarded-Proto only from TrustedProxies.
	TLSFront TLSMode = "front"
)

// Valid reports whether m is a known mode.
func (m TLSMode) Valid() bool {
	switch m {
	case TLSNone, TLSACME, TLSOwn, TLSFront:
		return true
	}
	return false
}

// OnServer reports whether nginx itself terminates TLS in mode m.
func (m TLSMode) OnServer() bool { return m == TLSACME || m == TLSOwn }

// ACME directories, and the names a spec may use for Let's Encrypt's.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// TLS defaults and limits.
const (
	// DefaultHSTSMaxAge is the Strict-Transport-Security max-age (one
	// year) of an instance served over HTTPS, except with Let's Encrypt's
	// staging directory, whose certificates no browser trusts.
	DefaultHSTSMaxAge = 31536000
	// MaxHSTSMaxAge is two years, what HSTS preload lists ask for.
	MaxHSTSMaxAge     = 63072000
	maxTrustedProxies = 50
	// maxPEMBytes is what an SSM Parameter Store parameter holds (the
	// advanced tier), where the chain and the key are kept on AWS.
	maxPEMBytes = 8 << 10
	// HTTPChallengePort is where an ACME CA validates HTTP-01: nginx
	// listens there for the challenge and the redirect to HTTPS.
	HTTPChallengePort = 80
)

// TLSOptions are the choices of how an instance's TLS is done. On a
// deployment they are the defaults of its instances; an instance's own
// options override them field by field. Zero fields take the defaults.
type TLSOptions struct {
	// Mode defaults from the URL: http:// is none; https:// is acme on
	// target ssh and front on target ssm (a load balancer in front of the
	// fleet).
	Mode TLSMode `json:"mode,omitempty" yaml:"mode,omitempty"`
	// ACMEDirectory (mode acme) is "production" (the default), "staging"
	// (Let's Encrypt's) or the https URL of another ACME directory.
	ACMEDirectory string `json:"acme_directory,omitempty" yaml:"acme_directory,omitempty"`
	// HSTSMaxAge is the Strict-Transport-Security max-age in seconds; 0
	// sends none. Default DefaultHSTSMaxAge, 0 with the staging directory.
	HSTSMaxAge *int `json:"hsts_max_age,omitempty" yaml:"hsts_max_age,omitempty"`
	// TrustedProxies (mode front, required there) are the addresses or
	// CIDR prefixes of the load balancer: nginx believes X-Forwarded-Proto
	// from them only.
	TrustedProxies []string `json:"trusted_proxies,omitempty" yaml:"trusted_proxies,omitempty"`
}

// TLSSpec is an instance's TLS as a user asks for it: its options and, in
// mode own, the certificate chain (PEM, the instance's certificate first)
// and its private key (PEM). The key is kept in the secret store only: it
// is never part of an instance, a run, a bundle or a response.
type TLSSpec struct {
	TLSOptions  `yaml:",inline"`
	Certificate string `json:"certificate,omitempty" yaml:"certificate,omitempty"`
	PrivateKey  string `json:"private_key,omitempty" yaml:"private_key,omitempty"`
}

// TLS is how an instance's TLS is done, every default resolved.
type TLS struct {
	Mode TLSMode `json:"mode"`
	// ACMEDirectory is the directory URL certbot uses (mode acme).
	ACMEDirectory string `json:"acme_directory,omitempty"`
	// HSTSMaxAge is the Strict-Transport-Security max-age; 0 sends none.
	HSTSMaxAge int `json:"hsts_max_age"`
	// TrustedProxies are normalized CIDR prefixes (mode front).
	TrustedProxies []string `json:"trusted_proxies,omitempty"`
	// Certificate describes the user's certificate (mode own).
	Certificate *Certificate `json:"certificate,omitempty"`
}

// Certificate describes a certificate chain the user gave: what it is,
// not the chain itself (kept beside its key in the secret store).
type Certificate struct {
	// SHA256 is the hex SHA-256 fingerprint of the instance's certificate
	// (the chain's first), as `openssl x509 -fingerprint -sha256` shows it
	// without colons.
	SHA256   string    `json:"sha256"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	Names    []string  `json:"names"`
	NotAfter time.Time `json:"not_after"`
}

// TLSSecretNames returns the secret names of an own certificate of
// instance type t with fingerprint sha256: the chain and the key. The
// fingerprint is part of the name, so a replacement (or a dry run's
// proposal) never overwrites the certificate an instance serves.
func TLSSecretNames(t InstanceType, sha256 string) (chain, key string) {
	fp := sha256
	if len(fp) > 16 {
		fp = fp[:16]
	}
	return "tls-chain-" + string(t) + "-" + fp, "tls-key-" + string(t) + "-" + fp
}

// EffectiveTLS returns the instance's TLS; an instance stored before TLS
// modes existed has none recorded, and was served on plain HTTP behind
// whatever terminated an https URL.
func (i *Instance) EffectiveTLS() TLS {
	if i.TLS.Mode != "" {
		return i.TLS
	}
	if strings.HasPrefix(i.URL, "https://") {
		return TLS{Mode: TLSFront}
	}
	return TLS{Mode: TLSNone}
}

// Endpoint returns the host and port nginx serves the instance's site on:
// the URL's, where with TLS on the server an https URL without a port
// means 443, and otherwise (plain HTTP, or TLS in front) 80.
func (i *Instance) Endpoint() (host string, port int) {
	host, port, _ = InstanceEndpoint(i.URL)
	if i.EffectiveTLS().Mode.OnServer() {
		if u, err := url.Parse(i.URL); err == nil && u.Port() == "" {
			port = 443
		}
	}
	return host, port
}

// ports lists every port nginx listens on for the instance: with TLS on
// the server, also the HTTP port of the ACME challenge and the redirect.
func (i *Instance) ports() []int {
	_, port := i.Endpoint()
	if i.EffectiveTLS().Mode.OnServer() && port != HTTPChallengePort {
		return []int{port, HTTPChallengePort}
	}
	return []int{port}
}

// validateTLSOptions checks options as a spec gives them, field names
// under prefix ("tls" or "instance.tls").
func validateTLSOptions(prefix string, o TLSOptions) error {
	var errs []error
	if o.Mode != "" && !o.Mode.Valid() {
		errs = append(errs, Invalid(prefix+".mode", "unknown TLS mode %q: use acme, own, front or none", o.Mode))
	}
	if o.ACMEDirectory != "" {
		if _, err := ACMEDirectoryURL(prefix+".acme_directory", o.ACMEDirectory); err != nil {
			errs = append(errs, err)
		}
	}
	if o.HSTSMaxAge != nil && (*o.HSTSMaxAge < 0 || *o.HSTSMaxAge > MaxHSTSMaxAge) {
		errs = append(errs, Invalid(prefix+".hsts_max_age", "must be from 0 (no HSTS) to %d seconds", MaxHSTSMaxAge))
	}
	if len(o.TrustedProxies) > maxTrustedProxies {
		errs = append(errs, Invalid(prefix+".trusted_proxies", "at most %d entries", maxTrustedProxies))
	}
	for i, p := range o.TrustedProxies {
		if _, err := trustedProxy(p); err != nil {
			errs = append(errs, Invalid(fmt.Sprintf("%s.trusted_proxies[%d]", prefix, i), "%q is not an IP address or CIDR prefix", p))
		}
	}
	return errors.Join(errs...)
}

// trustedProxy normalizes an address or prefix to a masked prefix.
func trustedProxy(s string) (string, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return "", errors.New("bad prefix")
		}
		return p.Masked().String(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", errors.New("bad address")
	}
	return netip.PrefixFrom(a, a.BitLen()).String(), nil
}

// ACMEDirectoryURL resolves a spec's acme_directory: "" and "production"
// are Let's Encrypt's production directory, "staging" its staging one, and
// anything else must be an https URL (with a host that ValidateHost
// accepts, and no credentials, query or fragment).
func ACMEDirectoryURL(field, s string) (string, error) {
	switch s {
	case "", "production":
		return LetsEncryptProduction, nil
	case "staging":
		return LetsEncryptStaging, nil
	}
	u, err := url.Parse(s)
	switch {
	case len(s) > 1024:
		return "", Invalid(field, "at most 1024 characters")
	case err != nil:
		return "", Invalid(field, "is not a URL: %v", err)
	case u.Scheme != "https":
		return "", Invalid(field, "must be production, staging or an https:// URL")
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", Invalid(field, "must be scheme, host, optional port and path only")
	case ValidateHost(field, u.Hostname()) != nil:
		return "", Invalid(field, "host %q is neither an IP address nor a DNS name", u.Hostname())
	case strings.IndexFunc(u.Path, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/-._~", c))
	}) >= 0:
		return "", Invalid(field, "the path may hold letters, digits and /-._~ only")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", Invalid(field, "port %q is out of range", p)
		}
	}
	return s, nil
}

// resolveTLS returns the TLS of an instance served at rawURL (validated),
// from the deployment's options overridden by spec's, and checks that
// they fit the URL; problems name urlField and prefix's fields.
func (d *Deployment) resolveTLS(urlField, prefix, rawURL string, spec TLSSpec, now time.Time) (TLS, error) {
	if err := validateTLSOptions(prefix, spec.TLSOptions); err != nil {
		return TLS{}, err
	}
	o := d.TLS
	if spec.Mode != "" {
		o.Mode = spec.Mode
	}
	if spec.ACMEDirectory != "" {
		o.ACMEDirectory = spec.ACMEDirectory
	}
	if spec.HSTSMaxAge != nil {
		o.HSTSMaxAge = spec.HSTSMaxAge
	}
	if spec.TrustedProxies != nil {
		o.TrustedProxies = spec.TrustedProxies
	}
	u, _ := url.Parse(rawURL)
	https := u.Scheme == "https"
	if o.Mode == "" {
		switch {
		case !https:
			o.Mode = TLSNone
		case d.Target == TargetSSM:
			o.Mode = TLSFront
		default:
			o.Mode = TLSACME
		}
	}
	out := TLS{Mode: o.Mode}
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if https != (o.Mode != TLSNone) {
		if https {
			add(Invalid(prefix+".mode", "an https:// URL needs HTTPS: use acme, own or front, or an http:// URL"))
		} else {
			add(Invalid(prefix+".mode", "mode %s serves https: the URL must start with https://", o.Mode))
		}
	}
	if (spec.Certificate != "" || spec.PrivateKey != "") && o.Mode != TLSOwn {
		add(Invalid(prefix+".certificate", "a certificate and key are only for mode own"))
	}
	host := u.Hostname()
	switch o.Mode {
	case TLSACME:
		dir, err := ACMEDirectoryURL(prefix+".acme_directory", o.ACMEDirectory)
		add(err)
		out.ACMEDirectory = dir
		if _, err := netip.ParseAddr(host); err == nil {
			add(Invalid(urlField, "an ACME certificate needs a DNS name, not the address %s: use mode own or front", host))
		}
	case TLSOwn:
		c, err := ParseOwnCertificate(prefix, host, spec.Certificate, spec.PrivateKey, now)
		add(err)
		out.Certificate = c
	case TLSFront:
		if len(o.TrustedProxies) == 0 {
			add(Invalid(prefix+".trusted_proxies", "is required with mode front: the load balancer's addresses or subnets (CIDR), the only senders of X-Forwarded-Proto nginx believes"))
		}
		for _, p := range o.TrustedProxies {
			if n, err := trustedProxy(p); err == nil && !slices.Contains(out.TrustedProxies, n) {
				out.TrustedProxies = append(out.TrustedProxies, n)
			}
		}
	}
	if o.Mode != TLSNone {
		out.HSTSMaxAge = DefaultHSTSMaxAge
		if out.ACMEDirectory == LetsEncryptStaging {
			out.HSTSMaxAge = 0
		}
		if o.HSTSMaxAge != nil {
			out.HSTSMaxAge = *o.HSTSMaxAge
		}
		if out.HSTSMaxAge > 0 && out.ACMEDirectory == LetsEncryptStaging {
			add(Invalid(prefix+".hsts_max_age", "must be 0 with Let's Encrypt's staging directory: browsers do not trust its certificates, and HSTS would lock them out"))
		}
	} else if o.HSTSMaxAge != nil && *o.HSTSMaxAge > 0 {
		add(Invalid(prefix+".hsts_max_age", "HSTS needs HTTPS: the URL is http://"))
	}
	if len(errs) > 0 {
		return TLS{}, joinErrors(errs)
	}
	return out, nil
}

// ParseOwnCertificate checks a user's certificate chain and private key
// for host, as of now, and describes the chain: both PEM; the chain's
// first certificate is the instance's, the key must be its key, it must
// name host (a DNS name or an IP address) and be valid now, and each
// further certificate must have signed the one before. Problems name
// prefix+".certificate" or prefix+".private_key" and never quote the key.
func ParseOwnCertificate(prefix, host, chainPEM, keyPEM string, now time.Time) (*Certificate, error) {
	cf, kf := prefix+".certificate", prefix+".private_key"
	var errs []error
	if chainPEM == "" {
		errs = append(errs, Invalid(cf, "is required with mode own: the certificate chain, PEM, the instance's certificate first"))
	} else if len(chainPEM) > maxPEMBytes {
		errs = append(errs, Invalid(cf, "at most %d KiB (leave the root certificate out)", maxPEMBytes>>10))
	}
	if keyPEM == "" {
		errs = append(errs, Invalid(kf, "is required with mode own: the certificate's private key, PEM"))
	} else if len(keyPEM) > maxPEMBytes {
		errs = append(errs, Invalid(kf, "at most %d KiB", maxPEMBytes>>10))
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	var chain []*x509.Certificate
	rest := []byte(chainPEM)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, Invalid(cf, "holds a PEM block of type %q: only CERTIFICATE blocks belong in the chain (the key goes in private_key)", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, Invalid(cf, "certificate %d of the chain cannot be parsed: %v", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, Invalid(cf, "holds no PEM certificate")
	}
	leaf := chain[0]
	if _, err := tls.X509KeyPair([]byte(chainPEM), []byte(keyPEM)); err != nil {
		// X509KeyPair's errors describe the key's type, never its bytes.
		if !strings.Contains(keyPEM, "PRIVATE KEY-----") {
			return nil, Invalid(kf, "is not a PEM private key")
		}
		return nil, Invalid(kf, "does not match the certificate (or cannot be read): %v", keyPairReason(err))
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return nil, Invalid(cf, "names %s, not the instance's host %s", strings.Join(certNames(leaf), ", "), host)
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, Invalid(cf, "expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, Invalid(cf, "is not valid before %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	for i := 1; i < len(chain); i++ {
		if err := chain[i-1].CheckSignatureFrom(chain[i]); err != nil {
			return nil, Invalid(cf, "certificate %d of the chain was not signed by certificate %d: put the chain in order, the instance's certificate first", i, i+1)
		}
	}
	sum := sha256.Sum256(leaf.Raw)
	return &Certificate{
		SHA256: hex.EncodeToString(sum[:]), Subject: leaf.Subject.String(), Issuer: leaf.Issuer.String(),
		Names: certNames(leaf), NotAfter: leaf.NotAfter.UTC(),
	}, nil
}

// keyPairReason keeps the part of a crypto/tls key pair error that says
// what is wrong, without its package prefix.
func keyPairReason(err error) string {
	return strings.TrimPrefix(err.Error(), "tls: ")
}

func certNames(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = []string{c.Subject.CommonName}
	}
	return names
}

// ReplaceTLS serves the instance of type t at rawURL (when not empty) with
// the TLS spec asks for, resolved against the deployment's options as for
// a new instance. The settings' base.public_url follows the URL, and
// their version grows by one. It changes d in place and returns the
// instance; a URL another instance serves is a Conflict. Problems name
// the request's fields: "url" and "tls.*".
func (d *Deployment) ReplaceTLS(t InstanceType, rawURL string, spec TLSSpec, now time.Time) (*Instance, error) {
	inst := d.Instance(t)
	if inst == nil {
		return nil, NotFound("instance %s not found", t)
	}
	if rawURL == "" {
		rawURL = inst.URL
	}
	if err := ValidateInstanceURL("url", rawURL); err != nil {
		return nil, err
	}
	tlsOf, err := d.resolveTLS("url", "tls", rawURL, spec, now)
	if err != nil {
		return nil, err
	}
	changed := Instance{Type: t, URL: rawURL, TLS: tlsOf}
	if err := d.checkServed("url", changed); err != nil {
		return nil, err
	}
	inst.URL, inst.TLS = rawURL, tlsOf
	settings := make(Settings, len(inst.Settings))
	for k, v := range inst.Settings {
		settings[k] = v
	}
	settings["base.public_url"] = rawURL
	inst.Settings = settings
	inst.SettingsVersion++
	inst.UpdatedAt = now
	return inst, nil
}
