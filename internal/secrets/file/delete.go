package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/edendeploy/edendeploy/internal/secrets"
)

// DeleteSecret removes one secret of the deployment (a webhook's, when
// the webhook goes); a missing one is not an error.
func (s *Store) DeleteSecret(ctx context.Context, deploymentID, name string) error {
	if err := secrets.CheckNames(deploymentID, name); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.dir, deploymentID, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("secrets/file: delete %s/%s: %w", deploymentID, name, err)
	}
	return nil
}
