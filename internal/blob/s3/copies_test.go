package s3_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/edendeploy/edendeploy/internal/blob/blobtest"
	blobs3 "github.com/edendeploy/edendeploy/internal/blob/s3"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// The copies run against gofakes3, the in-process S3 server.
func TestCopiesConformance(t *testing.T) {
	blobtest.RunCopies(t, func(t *testing.T) deploy.BackupCopies {
		s, _ := newStore(t, blobs3.Config{Bucket: "eden-backups"})
		return s
	})
}

func TestCopiesAreEncrypted(t *testing.T) {
	s, rec := newStore(t, blobs3.Config{Bucket: "bkt-c"})
	const key = "backups/d-1/prod/20260301-020000.dump"
	body := []byte("PGDMP dump")
	if err := s.PutCopy(context.Background(), key, bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	puts := rec.matching("PUT /bkt-c/" + key)
	if len(puts) != 1 || !strings.HasSuffix(puts[0], "sse=AES256 kms=") {
		t.Fatalf("PutObject requests %q, want one with SSE-S3", puts)
	}
	if loc := s.CopyLocation(key); loc != "s3://bkt-c/"+key {
		t.Errorf("CopyLocation = %q", loc)
	}
}
