package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/spf13/cobra"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// tlsFlags are the options of instance tls.
type tlsFlags struct {
	url, mode, certFile, keyFile, directory string
	hsts                                    int
	proxies                                 []string
}

func instanceTLSCommand(a *app) *cobra.Command {
	var f tlsFlags
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "tls DEPLOYMENT TYPE",
		Short: "Serve an instance at another URL or with other TLS (a reconfigure run)",
		Long: `Serve an instance at another URL or with other TLS, and start the reconfigure
run that applies it (000_config.py's public_url, the nginx site, certbot or
the own certificate). Modes: acme (Let's Encrypt, or --acme-directory), own
(--certificate and --private-key: the chain, the instance's certificate
first, and its key, read from files; the key is kept only in the secret
store), front (a load balancer in front: --trusted-proxies) and none (plain
HTTP). Options left out take the deployment's, then the defaults.`,
		Example: `  edenctl instance tls d-01hx5k0v6p8mzq3rj7t2c9w4fy prod --url https://eden.example.org --wait
  edenctl instance tls d-01hx5k0v6p8mzq3rj7t2c9w4fy prod --certificate fullchain.pem --private-key key.pem
  edenctl instance tls d-01hx5k0v6p8mzq3rj7t2c9w4fy prod --mode front --trusted-proxies 10.0.0.0/16`,
		Args:              exactArgs(2),
		ValidArgsFunction: a.completeArgs(argDeployment, argInstance),
		RunE: a.onDeployment(func(ctx context.Context, dep string, args []string) error {
			return a.instanceTLS(ctx, dep, args[0], f, rf)
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "the instance's new `URL` (default: its current one)")
	fl.StringVar(&f.mode, "mode", "", "the TLS `MODE`: acme, own, front or none (default: from the URL)")
	fl.StringVar(&f.certFile, "certificate", "", "mode own: the certificate chain `FILE` (PEM)")
	fl.StringVar(&f.keyFile, "private-key", "", "mode own: the private key `FILE` (PEM)")
	fl.StringVar(&f.directory, "acme-directory", "", "mode acme: production, staging or an ACME directory `URL`")
	fl.IntVar(&f.hsts, "hsts-max-age", -1, "Strict-Transport-Security max-age in `SECONDS`, 0 for none")
	fl.StringSliceVar(&f.proxies, "trusted-proxies", nil, "mode front: the load balancer's addresses or `CIDR`s")
	rf.bind(fl)
	return cmd
}

func (a *app) instanceTLS(ctx context.Context, dep, typ string, f tlsFlags, rf runFlags) error {
	if (f.certFile == "") != (f.keyFile == "") {
		return usagef("--certificate and --private-key go together")
	}
	body := httpapi.PutTLSRequest{URL: f.url, DryRun: rf.dryRun,
		TLS: deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSMode(f.mode), ACMEDirectory: f.directory, TrustedProxies: f.proxies}}}
	if f.hsts >= 0 {
		body.TLS.HSTSMaxAge = &f.hsts
	}
	if f.certFile != "" {
		chain, err := os.ReadFile(f.certFile)
		if err != nil {
			return fmt.Errorf("read the certificate chain: %w", err)
		}
		key, err := os.ReadFile(f.keyFile)
		if err != nil {
			return fmt.Errorf("read the private key: %w", err)
		}
		body.TLS.Certificate, body.TLS.PrivateKey = string(chain), string(key)
		if body.TLS.Mode == "" {
			body.TLS.Mode = deploy.TLSOwn
		}
	}
	return a.startRun(ctx, request{method: http.MethodPut, path: instancePath(dep, typ) + "/tls", body: body}, rf)
}
