package s3

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/edendeploy/edendeploy/internal/blob"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// The store keeps backup copies too (deploy.BackupCopies): on AWS the
// database servers upload them to the stack's bucket themselves and the
// control plane reads them to check them; locally an S3-compatible
// endpoint the operator names mirrors the data directory's copies.

var _ deploy.BackupCopies = (*Store)(nil)

// PutCopy stores body under key in one PutObject with server-side
// encryption. body must be seekable: the SDK signs and retries it.
func (s *Store) PutCopy(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:               aws.String(s.cfg.Bucket),
		Key:                  aws.String(key),
		Body:                 body,
		ContentLength:        aws.Int64(size),
		ServerSideEncryption: types.ServerSideEncryptionAes256,
	}
	if s.cfg.KMSKeyID != "" {
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.cfg.KMSKeyID)
	}
	if _, err := s.api.PutObject(ctx, in); err != nil {
		return fmt.Errorf("blob/s3: put copy %s: %w", key, kindOf(err))
	}
	return nil
}

// OpenCopy returns the object's body, or NotFound.
func (s *Store) OpenCopy(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := blob.CheckKey(key); err != nil {
		return nil, err
	}
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return nil, deploy.NotFound("blob/s3: no copy %s", key)
		}
		return nil, fmt.Errorf("blob/s3: open copy %s: %w", key, kindOf(err))
	}
	return out.Body, nil
}

// DeleteCopy removes the object (S3 deletes a missing key without error).
func (s *Store) DeleteCopy(ctx context.Context, key string) error {
	if err := blob.CheckKey(key); err != nil {
		return err
	}
	_, err := s.api.DeleteObjects(ctx, &s3.DeleteObjectsInput{
		Bucket: aws.String(s.cfg.Bucket),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String(key)}}, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("blob/s3: delete copy %s: %w", key, kindOf(err))
	}
	return nil
}

// CopyLocation is the object's s3:// URL.
func (s *Store) CopyLocation(key string) string { return "s3://" + s.cfg.Bucket + "/" + key }
