package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/httpapi"
)

// cmdInstanceTLS serves an instance at another URL or with other TLS: it
// reads an own certificate's chain and key from files and sends them with
// the options given (PUT .../tls), which starts a reconfigure run.
func cmdInstanceTLS(ctx context.Context, a *app, args []string) error {
	fs := a.flags("instance tls")
	url := fs.String("url", "", "")
	mode := fs.String("mode", "", "")
	certFile := fs.String("certificate", "", "")
	keyFile := fs.String("private-key", "", "")
	dir := fs.String("acme-directory", "", "")
	hsts := fs.Int("hsts-max-age", -1, "")
	proxies := fs.String("trusted-proxies", "", "")
	var rf runFlags
	rf.bind(fs)
	pos, err := a.parse(fs, args, 2, 2, "DEPLOYMENT TYPE [--url URL] [--mode MODE] [--certificate FILE --private-key FILE] [--acme-directory DIR] [--hsts-max-age N] [--trusted-proxies CIDR,...] [--dry-run] [--wait]")
	if err != nil {
		return err
	}
	if (*certFile == "") != (*keyFile == "") {
		return usagef("--certificate and --private-key go together")
	}
	body := httpapi.PutTLSRequest{URL: *url, DryRun: rf.dryRun,
		TLS: deploy.TLSSpec{TLSOptions: deploy.TLSOptions{Mode: deploy.TLSMode(*mode), ACMEDirectory: *dir}}}
	if *hsts >= 0 {
		body.TLS.HSTSMaxAge = hsts
	}
	if *proxies != "" {
		body.TLS.TrustedProxies = strings.Split(*proxies, ",")
	}
	if *certFile != "" {
		chain, err := os.ReadFile(*certFile)
		if err != nil {
			return fmt.Errorf("read the certificate chain: %w", err)
		}
		key, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("read the private key: %w", err)
		}
		body.TLS.Certificate, body.TLS.PrivateKey = string(chain), string(key)
		if body.TLS.Mode == "" {
			body.TLS.Mode = deploy.TLSOwn
		}
	}
	resp, err := a.call(ctx, request{method: http.MethodPut, path: instancePath(pos[0], pos[1]) + "/tls", body: body})
	if err != nil {
		return err
	}
	var out httpapi.RunStarted
	if err := decodeInto(resp, &out); err != nil {
		return err
	}
	if err := a.emit(resp.body, func(w io.Writer) { printStarted(w, out.Run) }); err != nil {
		return err
	}
	return a.maybeWait(ctx, rf, out.Run)
}
