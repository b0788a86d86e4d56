// Package secrets holds what the deploy.Secrets adapters share: the rule for
// valid deployment IDs and secret names. The adapters are secrets/file (0600
// files, local mode) and secrets/paramstore (SSM Parameter Store
// SecureString, AWS); secrets/secrettest is the conformance suite both pass.
package secrets

import "github.com/edendeploy/edendeploy/internal/deploy"

// CheckNames returns an Invalid error unless deploymentID and name are 1 to
// 128 characters from [A-Za-z0-9._-] not starting with a dot: safe as a
// file name and as a Parameter Store path segment.
func CheckNames(deploymentID, name string) error {
	if !deploy.SafeID(deploymentID) {
		return deploy.Invalid("deployment_id", "secrets: invalid deployment ID %q", deploymentID)
	}
	if !deploy.SafeID(name) {
		return deploy.Invalid("name", "secrets: invalid secret name %q", name)
	}
	return nil
}

// CheckDeploymentID is CheckNames for a deployment ID alone.
func CheckDeploymentID(deploymentID string) error {
	if !deploy.SafeID(deploymentID) {
		return deploy.Invalid("deployment_id", "secrets: invalid deployment ID %q", deploymentID)
	}
	return nil
}
