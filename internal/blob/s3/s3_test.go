package s3_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/edendeploy/edendeploy/internal/blob/blobtest"
	blobs3 "github.com/edendeploy/edendeploy/internal/blob/s3"
	"github.com/edendeploy/edendeploy/internal/deploy"
)

// recorder keeps the S3 requests gofakes3 was sent.
type recorder struct {
	mu   sync.Mutex
	reqs []string // "METHOD path?query sse=... kms=..."
}

func (r *recorder) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, fmt.Sprintf("%s %s?%s sse=%s kms=%s", req.Method, req.URL.Path, req.URL.RawQuery,
			req.Header.Get("X-Amz-Server-Side-Encryption"), req.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id")))
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	})
}

func (r *recorder) matching(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.reqs {
		if strings.Contains(q, s) {
			out = append(out, q)
		}
	}
	return out
}

func newStore(t *testing.T, cfg blobs3.Config) (*blobs3.Store, *recorder) {
	t.Helper()
	backend := s3mem.New()
	rec := &recorder{}
	srv := httptest.NewServer(rec.wrap(gofakes3.New(backend).Server()))
	t.Cleanup(srv.Close)
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		HTTPClient:   srv.Client(), // not the default client: AWS_CA_BUNDLE is set here
	})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatal(err)
	}
	s, err := blobs3.New(client, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, rec
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) deploy.Blobs {
		s, _ := newStore(t, blobs3.Config{Bucket: "eden-test"})
		return s
	})
}

func TestEncryptionHeaders(t *testing.T) {
	tests := []struct {
		name string
		cfg  blobs3.Config
		want string
	}{
		{"sse-s3", blobs3.Config{Bucket: "bkt-1"}, "sse=AES256 kms="},
		{"sse-kms", blobs3.Config{Bucket: "bkt-2", KMSKeyID: "alias/eden"}, "sse=aws:kms kms=alias/eden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, rec := newStore(t, tt.cfg)
			if err := s.PutBlob(context.Background(), "d-1/x", []byte("body")); err != nil {
				t.Fatal(err)
			}
			puts := rec.matching("PUT /" + tt.cfg.Bucket + "/d-1/x")
			if len(puts) != 1 || !strings.HasSuffix(puts[0], tt.want) {
				t.Fatalf("PutObject requests %q, want one ending %q", puts, tt.want)
			}
		})
	}
}

func TestDeleteBatches(t *testing.T) {
	s, rec := newStore(t, blobs3.Config{Bucket: "bkt-3"})
	ctx := context.Background()
	for i := range 2500 {
		if err := s.PutBlob(ctx, fmt.Sprintf("d-9/%05d", i), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteBlobs(ctx, "d-9/"); err != nil {
		t.Fatal(err)
	}
	if got := rec.matching("POST /bkt-3?delete"); len(got) != 3 {
		t.Fatalf("%d DeleteObjects calls for 2500 keys, want 3 (batches of 1000): %q", len(got), got)
	}
}

func TestNewRefusesMissingConfig(t *testing.T) {
	if _, err := blobs3.New(nil, blobs3.Config{Bucket: "b"}); !deploy.IsKind(err, deploy.KindInvalid) {
		t.Errorf("nil client: %v", err)
	}
	if _, err := blobs3.New(&s3.Client{}, blobs3.Config{}); !deploy.IsKind(err, deploy.KindInvalid) {
		t.Errorf("no bucket: %v", err)
	}
}
