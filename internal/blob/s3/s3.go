// Package s3 stores blobs in an S3 bucket (AWS mode), under the keys the
// caller gives (the callers put a deployment's objects under its ID), with
// server-side encryption on every write: SSE-S3 (AES256) by default, SSE-KMS
// when a key is configured.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/edendeploy/edendeploy/internal/blob"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// API is the part of *s3.Client the store uses.
type API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

// Config says where and how objects are stored.
type Config struct {
	Bucket string
	// KMSKeyID selects SSE-KMS with that key (ID, ARN or alias); empty
	// means SSE-S3 (AES256).
	KMSKeyID string
}

// Store is a bucket of blobs. Safe for concurrent use.
type Store struct {
	api API
	cfg Config
}

var _ deploy.Blobs = (*Store)(nil)

// New returns a store over api.
func New(api API, cfg Config) (*Store, error) {
	if api == nil {
		return nil, deploy.Invalid("api", "blob/s3: no S3 client")
	}
	if cfg.Bucket == "" {
		return nil, deploy.Invalid("bucket", "blob/s3: no bucket configured")
	}
	return &Store{api: api, cfg: cfg}, nil
}

// PutBlob stores body under key with server-side encryption.
func (s *Store) PutBlob(ctx context.Context, key string, body []byte) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:               aws.String(s.cfg.Bucket),
		Key:                  aws.String(key),
		Body:                 bytes.NewReader(body), // seekable: the SDK can sign and retry it
		ContentLength:        aws.Int64(int64(len(body))),
		ServerSideEncryption: types.ServerSideEncryptionAes256,
	}
	if s.cfg.KMSKeyID != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
	}
	if _, err := s.api.PutObject(ctx, in); err != nil {
		return fmt.Errorf("blob/s3: put %s: %w", key, kindOf(err))
	}
	return nil
}

// GetBlob returns the object under key, or NotFound.
func (s *Store) GetBlob(ctx context.Context, key string) ([]byte, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return nil, deploy.NotFound("blob/s3: no object %s", key)
		}
		return nil, fmt.Errorf("blob/s3: get %s: %w", key, kindOf(err))
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("blob/s3: get %s: %w", key, deploy.Transient(err, "read body"))
	}
	return b, nil
}

// DeleteBlobs removes every object whose key starts with prefix: one
// ListObjectsV2 page (at most 1000 keys) at a time, each deleted with one
// DeleteObjects call. An empty prefix is Invalid.
func (s *Store) DeleteBlobs(ctx context.Context, prefix string) error {
	if err := blob.CheckPrefix(prefix); err != nil {
		return err
	}
	p := s3.NewListObjectsV2Paginator(s.api, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(1000),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("blob/s3: list %s*: %w", prefix, kindOf(err))
		}
		for start := 0; start < len(page.Contents); start += 1000 {
			batch := page.Contents[start:min(start+1000, len(page.Contents))]
			ids := make([]types.ObjectIdentifier, len(batch))
			for i, o := range batch {
				ids[i] = types.ObjectIdentifier{Key: o.Key}
			}
			out, err := s.api.DeleteObjects(ctx, &s3.DeleteObjectsInput{
				Bucket: aws.String(s.cfg.Bucket),
				Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
			})
			if err != nil {
				return fmt.Errorf("blob/s3: delete %s*: %w", prefix, kindOf(err))
			}
			if len(out.Errors) > 0 {
				e := out.Errors[0]
				return fmt.Errorf("blob/s3: delete %s*: %d objects not deleted, first %s: %s %s",
					prefix, len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
			}
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

// kindOf marks throttling and server-side errors Transient.
func kindOf(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling", "ThrottlingException":
			return deploy.Transient(err, "s3 %s", ae.ErrorCode())
		}
		if ae.ErrorFault() == smithy.FaultServer {
			return deploy.Transient(err, "s3 server error")
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return deploy.Transient(err, "s3 request")
}
