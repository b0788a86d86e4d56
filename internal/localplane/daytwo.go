package localplane

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edendeploy/edendeploy/internal/backups"
	blobfs "github.com/edendeploy/edendeploy/internal/blob/fs"
	blobs3 "github.com/edendeploy/edendeploy/internal/blob/s3"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// PullDirVar is the runner's extra var that tells the backup playbooks
// where on this machine to pull dumps to (and push restores from).
const PullDirVar = "eden_backup_pull_dir"

// Mirror names an S3-compatible endpoint that keeps a further copy of
// every backup pulled to the data directory.
type Mirror struct {
	// Endpoint is the endpoint's URL, e.g. "https://s3.example.org" or
	// "http://127.0.0.1:9000"; requests are path-style.
	Endpoint string
	Bucket   string
	// Region defaults to us-east-1.
	Region string
	// AccessKeyID and SecretAccessKey sign the requests.
	AccessKeyID, SecretAccessKey string
	// HTTPClient, when set, sends the requests (tests); default a client
	// of its own.
	HTTPClient *http.Client
}

// offsiteDir is where the data directory keeps backups off the database
// servers: <data>/offsite/backups/<deployment>/<type>/<dump>.
func offsiteDir(dataDir string) string { return filepath.Join(dataDir, "offsite") }

// newBackups builds the backups service over the store's records, the
// data directory's copies and the mirror, if any.
func newBackups(cfg Config, store deploy.BackupStore) (*backups.Service, error) {
	copies, err := blobfs.Open(offsiteDir(cfg.DataDir))
	if err != nil {
		return nil, err
	}
	bc := backups.Config{Store: store, Copies: copies, Retention: cfg.BackupRetention, Log: cfg.Log}
	if m := cfg.BackupMirror; m != nil {
		if m.Endpoint == "" || m.Bucket == "" {
			return nil, errors.New("localplane: a backup mirror needs an endpoint and a bucket")
		}
		region := m.Region
		if region == "" {
			region = "us-east-1"
		}
		client := m.HTTPClient
		if client == nil {
			// Not the SDK's default: it reads AWS_CA_BUNDLE, which may name
			// another endpoint's authority.
			client = &http.Client{}
		}
		api := s3.New(s3.Options{
			Region: region, BaseEndpoint: aws.String(m.Endpoint), UsePathStyle: true, HTTPClient: client,
			Credentials: credentials.NewStaticCredentialsProvider(m.AccessKeyID, m.SecretAccessKey, ""),
		})
		mirror, err := blobs3.New(api, blobs3.Config{Bucket: m.Bucket})
		if err != nil {
			return nil, fmt.Errorf("localplane: backup mirror: %w", err)
		}
		bc.Mirror = mirror
	}
	return backups.New(bc)
}
