package paramstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/edendeploy/edendeploy/internal/secrets"
)

// DeleteSecret removes one secret of the deployment (a webhook's, when
// the webhook goes); a missing one is not an error (DeleteParameters
// reports it as invalid, not as a failure).
func (s *Store) DeleteSecret(ctx context.Context, deploymentID, name string) error {
	if err := secrets.CheckNames(deploymentID, name); err != nil {
		return err
	}
	in := &ssm.DeleteParametersInput{Names: []string{ParameterName(s.cfg.Prefix, deploymentID, name)}}
	if _, err := s.api.DeleteParameters(ctx, in); err != nil {
		return fmt.Errorf("paramstore: delete %s of %s: %w", name, deploymentID, kindOf(err))
	}
	return nil
}
