package lambdafn

import (
	"errors"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Runner is the SSM Run Command runner (internal/runner/ssm).
func (a *App) Runner() (deploy.Runner, error) {
	return nil, errors.New("lambdafn: internal/runner/ssm is not wired yet")
}
