package playbook

import "github.com/edendeploy/edendeploy/internal/deploy"

// Renderer renders steps into tar.gz bundles with fixed Options: the
// tasks.Renderer the state machine's PrepareStep uses.
type Renderer struct {
	Options Options
}

// RenderBundle renders step i of run r on deployment d and packs it.
func (rr Renderer) RenderBundle(d *deploy.Deployment, r *deploy.Run, i int) ([]byte, error) {
	b, err := Render(Input{Deployment: d, Run: r, Step: i}, rr.Options)
	if err != nil {
		return nil, err
	}
	return b.TarGz()
}
