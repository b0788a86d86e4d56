package lambdafn

import (
	"context"

	ssmrunner "github.com/edendeploy/edendeploy/internal/runner/ssm"
)

// Runner is the SSM Run Command runner over the apply-bundle document;
// its command records and the hosts' outputs go to the bucket.
func (a *App) Runner() (*ssmrunner.Runner, error) {
	blobs, err := a.Blobs()
	if err != nil {
		return nil, err
	}
	return ssmrunner.New(a.Clients.SSM, blobs, ssmrunner.Config{
		DocumentName:  a.Config.DocumentName,
		Bucket:        a.Config.Bucket,
		SecretsPrefix: a.Config.ParameterPrefix,
		Logger:        a.Log,
	})
}

// SSMStatus returns the handler of the apply-bundle document's command
// status changes (EventBridge): it signals the step's task token. An error
// makes Lambda's asynchronous invocation deliver the event again.
func (a *App) SSMStatus(ctx context.Context) (any, error) {
	blobs, err := a.Blobs()
	if err != nil {
		return nil, err
	}
	wf, err := a.Workflow()
	if err != nil {
		return nil, err
	}
	h, err := ssmrunner.NewCompletionHandler(a.Clients.SSM, blobs, wf, a.Config.DocumentName, a.Log)
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
