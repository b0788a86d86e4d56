package ssm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/secrets"
)

// bundleSecretNames returns the names the bundle's secrets.json lists (none
// if it has no such file), so that the command names exactly the secrets
// the hosts may read. The deployment's SSH key is never one of them.
func bundleSecretNames(tgz []byte) ([]string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Name != "secrets.json" && hdr.Name != "./secrets.json" {
			continue
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size > 64<<10 {
			return nil, errors.New("secrets.json is not a small regular file")
		}
		b, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
		if err != nil {
			return nil, err
		}
		var names []string
		if err := json.Unmarshal(b, &names); err != nil {
			return nil, fmt.Errorf("secrets.json: %w", err)
		}
		for _, n := range names {
			if secrets.CheckNames("d", n) != nil || n == deploy.SecretSSHKey {
				return nil, fmt.Errorf("secrets.json names an invalid secret %q", n)
			}
		}
		return names, nil
	}
}
