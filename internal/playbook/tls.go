package playbook

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strconv"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Where the web server keeps certificates: certbot's lineages, and the own
// certificates Eden Deploy writes (the key 0600, root's).
const (
	letsEncryptLive = "/etc/letsencrypt/live/"
	ownCertDir      = "/etc/nginx/eden-tls/"
)

// ACMELineage is the name of the certbot lineage (its directory under
// /etc/letsencrypt/live) of an instance served on host with certificates
// from directory: the host and a digest of the directory, so that moving
// from one CA to another (staging to production) obtains a certificate
// anew instead of keeping the old CA's.
func ACMELineage(host, directory string) string {
	sum := sha256.Sum256([]byte(directory))
	return host + "-" + hex.EncodeToString(sum[:4])
}

// instanceTLSVars adds the instance's tls mapping to im (a web server's
// view of one instance) and returns the secrets it reads: an own
// certificate's chain and key. Every value is validated again here: they
// reach nginx's configuration and certbot's arguments.
func instanceTLSVars(im mapping, d *deploy.Deployment, inst deploy.Instance) ([]string, error) {
	field := "instances." + string(inst.Type) + ".tls"
	tls := inst.EffectiveTLS()
	host, port := inst.Endpoint()
	tm := newMapping()
	tm.str("mode", string(tls.Mode))
	if tls.HSTSMaxAge < 0 || tls.HSTSMaxAge > deploy.MaxHSTSMaxAge {
		return nil, deploy.Invalid(field+".hsts_max_age", "out of range")
	}
	tm.int("hsts_max_age", tls.HSTSMaxAge)
	var secrets []string
	switch tls.Mode {
	case deploy.TLSNone:
	case deploy.TLSACME:
		dir, err := deploy.ACMEDirectoryURL(field+".acme_directory", tls.ACMEDirectory)
		if err != nil {
			return nil, err
		}
		if err := deploy.ValidateEmail("admin_email", d.AdminEmail); err != nil {
			return nil, err
		}
		lineage := ACMELineage(host, dir)
		am := newMapping()
		am.str("directory", dir)
		am.str("email", d.AdminEmail)
		am.str("lineage", lineage)
		tm.put("acme", am.node)
		tm.str("certificate", letsEncryptLive+lineage+"/fullchain.pem")
		tm.str("key", letsEncryptLive+lineage+"/privkey.pem")
	case deploy.TLSOwn:
		c := tls.Certificate
		if c == nil || len(c.SHA256) != 64 {
			return nil, deploy.Invalid(field+".certificate", "the instance has no own certificate recorded")
		}
		if _, err := hex.DecodeString(c.SHA256); err != nil {
			return nil, deploy.Invalid(field+".certificate", "the fingerprint is not hex")
		}
		chain, key := deploy.TLSSecretNames(inst.Type, c.SHA256)
		om := newMapping()
		om.str("sha256", c.SHA256)
		om.str("chain_secret", chain)
		om.str("key_secret", key)
		tm.put("own", om.node)
		dir := ownCertDir + string(inst.Type)
		tm.str("directory", dir)
		tm.str("certificate", dir+"/fullchain.pem")
		tm.str("key", dir+"/privkey.pem")
		secrets = []string{chain, key}
	case deploy.TLSFront:
		var proxies []string
		for i, p := range tls.TrustedProxies {
			pfx, err := netip.ParsePrefix(p)
			if err != nil || pfx.Addr().Zone() != "" {
				return nil, deploy.Invalid(field+".trusted_proxies["+strconv.Itoa(i)+"]", "%q is not a CIDR prefix", p)
			}
			proxies = append(proxies, pfx.Masked().String())
		}
		tm.list("trusted_proxies", proxies)
	default:
		return nil, deploy.Invalid(field+".mode", "unknown TLS mode %q", tls.Mode)
	}
	if tls.Mode.OnServer() {
		origin := "https://" + bracketIPv6(host)
		if port != 443 {
			origin += ":" + strconv.Itoa(port)
		}
		tm.str("https_origin", origin)
		tm.int("redirect_port", deploy.HTTPChallengePort)
	}
	im.put("tls", tm.node)
	return secrets, nil
}
