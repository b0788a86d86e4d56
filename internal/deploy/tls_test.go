package deploy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/testcert"
)

func intp(n int) *int { return &n }

func TestNewDeploymentTLS(t *testing.T) {
	ca := testcert.NewCA(t, "Test CA")
	leaf := ca.Issue(t, []string{"eden.example.org"})
	other := ca.Issue(t, []string{"other.example.org"})
	expired := ca.Issue(t, []string{"eden.example.org"}, testcert.ValidUntil(time.Now().Add(-time.Minute)))
	wrongKey := testcert.NewKeyPEM(t)
	foreignCA := testcert.NewCA(t, "Another CA")
	// A chain whose second certificate did not sign the first.
	badOrder := string(leaf.Cert) + string(foreignCA.PEM)

	tests := []struct {
		name     string
		spec     func(*deploy.Spec)
		want     deploy.TLS
		problems []problem
		reason   string
	}{
		{name: "http is plain", spec: func(s *deploy.Spec) {}, want: deploy.TLS{Mode: deploy.TLSNone}},
		{
			name: "https on ssh is Let's Encrypt production with HSTS",
			spec: func(s *deploy.Spec) { s.Instance.URL = "https://eden.example.org" },
			want: deploy.TLS{Mode: deploy.TLSACME, ACMEDirectory: deploy.LetsEncryptProduction, HSTSMaxAge: deploy.DefaultHSTSMaxAge},
		},
		{
			name: "staging has no HSTS",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.TLS.ACMEDirectory = "staging"
			},
			want: deploy.TLS{Mode: deploy.TLSACME, ACMEDirectory: deploy.LetsEncryptStaging},
		},
		{
			name: "staging refuses HSTS",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS.ACMEDirectory = "staging"
				s.Instance.TLS.HSTSMaxAge = intp(600)
			},
			problems: invalid("instance.tls.hsts_max_age"), reason: "staging",
		},
		{
			name: "another ACME directory, HSTS of its own",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.TLS = deploy.TLSOptions{ACMEDirectory: "https://10.1.0.1:14000/dir", HSTSMaxAge: intp(300)}
			},
			want: deploy.TLS{Mode: deploy.TLSACME, ACMEDirectory: "https://10.1.0.1:14000/dir", HSTSMaxAge: 300},
		},
		{
			name: "an ACME directory over http",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.TLS.ACMEDirectory = "http://ca.example.org/dir"
			},
			problems: invalid("tls.acme_directory"),
		},
		{
			name: "an ACME certificate for an address",
			spec: func(s *deploy.Spec) {
				s.Servers[0].Host = "192.0.2.10"
				s.Instance.URL = "https://192.0.2.10"
			},
			problems: invalid("instance.url"), reason: "DNS name",
		},
		{
			name: "https on ssm is a load balancer in front, which needs its addresses",
			spec: func(s *deploy.Spec) {
				s.Target, s.SSHUser = deploy.TargetSSM, ""
				s.Servers[0].InstanceID = "i-0123456789abcdef0"
				s.Instance.URL = "https://eden.example.org"
			},
			problems: invalid("instance.tls.trusted_proxies"),
		},
		{
			name: "front with trusted proxies, normalized",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.TLS.TrustedProxies = []string{"10.0.1.7/16", "192.0.2.1", "2001:db8::/32"}
				s.Instance.TLS.Mode = deploy.TLSFront
			},
			want: deploy.TLS{Mode: deploy.TLSFront, HSTSMaxAge: deploy.DefaultHSTSMaxAge, TrustedProxies: []string{"10.0.0.0/16", "192.0.2.1/32", "2001:db8::/32"}},
		},
		{
			name: "a trusted proxy that is not an address",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS.Mode = deploy.TLSFront
				s.Instance.TLS.TrustedProxies = []string{"lb.example.org"}
			},
			problems: invalid("instance.tls.trusted_proxies[0]"),
		},
		{
			name: "own certificate",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS = deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(leaf.Chain), PrivateKey: string(leaf.Key)}
			},
			want: deploy.TLS{Mode: deploy.TLSOwn, HSTSMaxAge: deploy.DefaultHSTSMaxAge, Certificate: &deploy.Certificate{
				SHA256: leaf.SHA256, Subject: "CN=eden.example.org", Issuer: "CN=Test CA", Names: []string{"eden.example.org"},
			}},
		},
		{
			name: "own certificate for another host",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS = deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(other.Chain), PrivateKey: string(other.Key)}
			},
			problems: invalid("instance.tls.certificate"), reason: "names other.example.org, not the instance's host eden.example.org",
		},
		{
			name: "own certificate with another key",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS = deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(leaf.Chain), PrivateKey: string(wrongKey)}
			},
			problems: invalid("instance.tls.private_key"), reason: "does not match",
		},
		{
			name: "own certificate, expired",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS = deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(expired.Chain), PrivateKey: string(expired.Key)}
			},
			problems: invalid("instance.tls.certificate"), reason: "expired",
		},
		{
			name: "own certificate, chain out of order",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS = deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: badOrder, PrivateKey: string(leaf.Key)}
			},
			problems: invalid("instance.tls.certificate"), reason: "not signed",
		},
		{
			name: "own certificate without either",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS.Mode = deploy.TLSOwn
			},
			problems: invalid("instance.tls.certificate", "instance.tls.private_key"),
		},
		{
			name: "a key in the certificate field",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS = deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(leaf.Key), PrivateKey: string(leaf.Key)}
			},
			problems: invalid("instance.tls.certificate"),
		},
		{
			name: "a chain larger than a parameter holds",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS = deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: strings.Repeat(string(leaf.Chain), 20), PrivateKey: string(leaf.Key)}
			},
			problems: invalid("instance.tls.certificate"), reason: "at most 8 KiB",
		},
		{
			name: "a certificate without mode own",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.Instance.TLS = deploy.TLSSpec{Certificate: string(leaf.Chain), PrivateKey: string(leaf.Key)}
			},
			problems: invalid("instance.tls.certificate"),
		},
		{
			name: "https with mode none",
			spec: func(s *deploy.Spec) {
				s.Instance.URL = "https://eden.example.org"
				s.TLS.Mode = deploy.TLSNone
			},
			problems: invalid("instance.tls.mode"),
		},
		{
			name:     "http with mode acme",
			spec:     func(s *deploy.Spec) { s.Instance.TLS.Mode = deploy.TLSACME },
			problems: invalid("instance.tls.mode"),
		},
		{
			name:     "HSTS on plain HTTP",
			spec:     func(s *deploy.Spec) { s.Instance.TLS.HSTSMaxAge = intp(60) },
			problems: invalid("instance.tls.hsts_max_age"),
		},
		{
			name:     "an unknown mode and HSTS out of range",
			spec:     func(s *deploy.Spec) { s.TLS = deploy.TLSOptions{Mode: "letsencrypt", HSTSMaxAge: intp(-1)} },
			problems: invalid("tls.mode", "tls.hsts_max_age"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := allInOneSpec()
			tt.spec(&spec)
			d, err := deploy.NewDeployment(spec, "d-1", "alice", time.Now())
			if tt.problems != nil {
				checkProblems(t, err, tt.problems, tt.reason)
				// No problem quotes a line of the key.
				for _, l := range strings.Split(spec.Instance.TLS.PrivateKey, "\n") {
					if len(l) > 8 && strings.Contains(err.Error(), l) {
						t.Errorf("a problem quotes the key: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := d.Instances[0].TLS
			if got.Certificate != nil {
				got.Certificate.NotAfter = time.Time{}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("TLS (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInstanceEndpointAndPorts(t *testing.T) {
	d := deployed(t, func() deploy.Spec {
		s := allInOneSpec()
		s.Instance.URL = "https://eden.example.org"
		return s
	}())
	if host, port := d.Instances[0].Endpoint(); host != "eden.example.org" || port != 443 {
		t.Errorf("an ACME instance is served on %s:%d, want eden.example.org:443", host, port)
	}
	tests := []struct {
		name string
		spec deploy.InstanceSpec
		err  *problem
	}{
		{"plain HTTP on the ACME instance's host takes port 80", deploy.InstanceSpec{Type: deploy.InstanceDemo, URL: "http://eden.example.org"}, &problem{deploy.KindConflict, "instance.url"}},
		{"plain HTTP on another port of the host", deploy.InstanceSpec{Type: deploy.InstanceDemo, URL: "http://eden.example.org:8027"}, nil},
		{"HTTPS on another host name", deploy.InstanceSpec{Type: deploy.InstanceDemo, URL: "https://demo.example.org"}, nil},
		{"HTTPS on another port of the host needs port 80 too", deploy.InstanceSpec{Type: deploy.InstanceDemo, URL: "https://eden.example.org:8443"}, &problem{deploy.KindConflict, "instance.url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.AddInstance(tt.spec, nil, now)
			if tt.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			checkKind(t, err, tt.err.Kind, tt.err.Field)
		})
	}
	// An instance stored before TLS modes: an https URL was served on 80
	// behind whatever terminated it.
	old := deploy.Instance{Type: deploy.InstanceProd, URL: "https://eden.example.org"}
	if host, port := old.Endpoint(); port != 80 || old.EffectiveTLS().Mode != deploy.TLSFront {
		t.Errorf("an instance without TLS recorded: %s:%d %s, want port 80, front", host, port, old.EffectiveTLS().Mode)
	}
}

func TestReplaceTLS(t *testing.T) {
	ca := testcert.NewCA(t, "Test CA")
	leaf := ca.Issue(t, []string{"eden.example.org"})
	d := deployed(t, allInOneSpec())
	inst := d.Instances[0]

	// A wrong key changes nothing.
	_, err := d.ReplaceTLS(deploy.InstanceProd, "https://eden.example.org", deploy.TLSSpec{
		TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(leaf.Chain), PrivateKey: string(testcert.NewKeyPEM(t)),
	}, time.Now())
	checkKind(t, err, deploy.KindInvalid, "tls.private_key")
	if diff := cmp.Diff(inst, d.Instances[0]); diff != "" {
		t.Errorf("a refused replacement changed the instance:\n%s", diff)
	}

	got, err := d.ReplaceTLS(deploy.InstanceProd, "https://eden.example.org", deploy.TLSSpec{
		TLSOptions: deploy.TLSOptions{Mode: deploy.TLSOwn}, Certificate: string(leaf.Chain), PrivateKey: string(leaf.Key),
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.URL != "https://eden.example.org" || got.Settings["base.public_url"] != got.URL || got.SettingsVersion != inst.SettingsVersion+1 ||
		got.TLS.Mode != deploy.TLSOwn || got.TLS.Certificate.SHA256 != leaf.SHA256 {
		t.Errorf("after ReplaceTLS: %+v", got)
	}
	if inst.Settings["base.public_url"] != "http://eden.example.org" {
		t.Errorf("ReplaceTLS changed the settings map it was given: %v", inst.Settings)
	}
	chain, key := deploy.TLSSecretNames(deploy.InstanceProd, leaf.SHA256)
	if chain != "tls-chain-prod-"+leaf.SHA256[:16] || key != "tls-key-prod-"+leaf.SHA256[:16] || !deploy.SafeID(chain) || !deploy.SafeID(key) {
		t.Errorf("secret names %q, %q", chain, key)
	}
	_, err = d.ReplaceTLS(deploy.InstanceTest, "", deploy.TLSSpec{}, now)
	checkKind(t, err, deploy.KindNotFound, "")
}
