package testhost

import "path/filepath"

// TemplateRoot returns the root filesystem of distribution d's cached
// template in the cache dir that Create would use (explicit, else
// $EDEN_TESTHOST_CACHE, else <module root>/.cache/testhost).
func TemplateRoot(explicit string, d Distro) (string, error) {
	dir, err := cacheDir(explicit)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, distros[d].template, "root"), nil
}
