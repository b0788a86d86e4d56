// Package paramstore keeps secrets in AWS Systems Manager Parameter Store
// (AWS mode): each one a SecureString parameter named
// <prefix>/<deploymentID>/<name>, encrypted with the account's default key
// or a configured KMS key, in the Intelligent-Tiering tier (standard up to
// 4 KB, advanced above: a large RSA key still fits).
//
// The SSM Command document reads the same parameters on the host itself
// (aws ssm get-parameter --with-decryption), so the values never travel in
// a command's parameters.
package paramstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/secrets"
)

// API is the part of *ssm.Client the store uses.
type API interface {
	PutParameter(ctx context.Context, in *ssm.PutParameterInput, optFns ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
	DeleteParameters(ctx context.Context, in *ssm.DeleteParametersInput, optFns ...func(*ssm.Options)) (*ssm.DeleteParametersOutput, error)
}

// Config says where the parameters live.
type Config struct {
	// Prefix is the path every parameter is under, e.g. "/eden"; it must
	// start with "/" and not end with one.
	Prefix string
	// KMSKeyID encrypts the SecureStrings with that key; empty means the
	// account's aws/ssm key.
	KMSKeyID string
}

// Store is a Parameter Store namespace of secrets. Safe for concurrent use.
type Store struct {
	api API
	cfg Config
}

var _ deploy.Secrets = (*Store)(nil)

// New returns a store over api.
func New(api API, cfg Config) (*Store, error) {
	if api == nil {
		return nil, deploy.Invalid("api", "paramstore: no SSM client")
	}
	if !strings.HasPrefix(cfg.Prefix, "/") || strings.HasSuffix(cfg.Prefix, "/") || strings.Contains(cfg.Prefix, "//") {
		return nil, deploy.Invalid("prefix", "paramstore: prefix %q must start with / and not end with one", cfg.Prefix)
	}
	return &Store{api: api, cfg: cfg}, nil
}

// ParameterName returns the parameter that holds a deployment's secret:
// <prefix>/<deploymentID>/<name>.
func ParameterName(prefix, deploymentID, name string) string {
	return prefix + "/" + deploymentID + "/" + name
}

// DeploymentPath returns the path under which a deployment's secrets are:
// <prefix>/<deploymentID>.
func DeploymentPath(prefix, deploymentID string) string { return prefix + "/" + deploymentID }

// PutSecret stores value (UTF-8 text; anything else is Invalid) as a
// SecureString, overwriting an older version.
func (s *Store) PutSecret(ctx context.Context, deploymentID, name string, value []byte) error {
	if err := secrets.CheckNames(deploymentID, name); err != nil {
		return err
	}
	if !utf8.Valid(value) || len(value) == 0 {
		return deploy.Invalid("value", "paramstore: secret %s must be non-empty UTF-8 text", name)
	}
	in := &ssm.PutParameterInput{
		Name:      aws.String(ParameterName(s.cfg.Prefix, deploymentID, name)),
		Value:     aws.String(string(value)),
		Type:      types.ParameterTypeSecureString,
		Overwrite: aws.Bool(true),
		Tier:      types.ParameterTierIntelligentTiering,
	}
	if s.cfg.KMSKeyID != "" {
		in.KeyId = aws.String(s.cfg.KMSKeyID)
	}
	if _, err := s.api.PutParameter(ctx, in); err != nil {
		return fmt.Errorf("paramstore: put %s of %s: %w", name, deploymentID, kindOf(err))
	}
	return nil
}

// GetSecret returns the decrypted secret, or NotFound.
func (s *Store) GetSecret(ctx context.Context, deploymentID, name string) ([]byte, error) {
	if err := secrets.CheckNames(deploymentID, name); err != nil {
		return nil, err
	}
	out, err := s.api.GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(ParameterName(s.cfg.Prefix, deploymentID, name)),
		WithDecryption: aws.Bool(true),
	})
	if err != nil {
		var nf *types.ParameterNotFound
		if errors.As(err, &nf) {
			return nil, deploy.NotFound("paramstore: no secret %s of deployment %s", name, deploymentID)
		}
		return nil, fmt.Errorf("paramstore: get %s of %s: %w", name, deploymentID, kindOf(err))
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, fmt.Errorf("paramstore: get %s of %s: empty answer", name, deploymentID)
	}
	return []byte(*out.Parameter.Value), nil
}

// DeleteSecrets removes every parameter under the deployment's path:
// listed with GetParametersByPath (10 a page, values not decrypted) and
// deleted with DeleteParameters (at most 10 names a call).
func (s *Store) DeleteSecrets(ctx context.Context, deploymentID string) error {
	if err := secrets.CheckDeploymentID(deploymentID); err != nil {
		return err
	}
	var names []string
	p := ssm.NewGetParametersByPathPaginator(s.api, &ssm.GetParametersByPathInput{
		Path:           aws.String(DeploymentPath(s.cfg.Prefix, deploymentID)),
		Recursive:      aws.Bool(true),
		WithDecryption: aws.Bool(false),
		MaxResults:     aws.Int32(10),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("paramstore: list secrets of %s: %w", deploymentID, kindOf(err))
		}
		for _, prm := range page.Parameters {
			names = append(names, aws.ToString(prm.Name))
		}
	}
	// Deleting after listing: deleting while paging could skip a page.
	for start := 0; start < len(names); start += 10 {
		batch := names[start:min(start+10, len(names))]
		out, err := s.api.DeleteParameters(ctx, &ssm.DeleteParametersInput{Names: batch})
		if err != nil {
			return fmt.Errorf("paramstore: delete secrets of %s: %w", deploymentID, kindOf(err))
		}
		// InvalidParameters lists names that did not exist (deleted
		// meanwhile): the goal is reached either way.
		_ = out
	}
	return nil
}

func kindOf(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "TooManyUpdates", "InternalServerError":
			return deploy.Transient(err, "ssm %s", ae.ErrorCode())
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return deploy.Transient(err, "ssm request")
}
