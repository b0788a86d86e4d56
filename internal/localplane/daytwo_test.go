package localplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/bolt"
)

// A backup pulled to the data directory is recorded with its copy there
// and, with a mirror named, a copy on the S3-compatible endpoint (the
// in-process S3 server), each checked.
func TestBackupsPulledAndMirrored(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	api := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true, HTTPClient: srv.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	ctx := context.Background()
	if _, err := api.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("eden-backups")}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "edendeploy.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc, err := newBackups(Config{DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		BackupMirror: &Mirror{Endpoint: srv.URL, Bucket: "eden-backups", AccessKeyID: "AKID", SecretAccessKey: "SECRET", HTTPClient: srv.Client()}}, st)
	if err != nil {
		t.Fatal(err)
	}
	// What backup.yml's fetch leaves: the dump under <data>/offsite.
	const name = "20260301-020000.dump"
	body := []byte("PGDMP a dump")
	key := deploy.BackupKey("d-1", deploy.InstanceProd, name)
	pulled := filepath.Join(offsiteDir(dir), filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(pulled), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pulled, body, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	d := &deploy.Deployment{ID: "d-1", Servers: []deploy.Server{{Host: "10.0.0.5", Role: deploy.RoleAll}}}
	r := &deploy.Run{ID: "r-1", DeploymentID: "d-1", Kind: deploy.RunBackup}
	rep := deploy.BackupReport{Instance: deploy.InstanceProd, Name: name, Path: "/var/backups/eden/prod/" + name,
		Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), Current: true, Offsite: "pulled"}
	if err := svc.CollectStep(ctx, d, r, 0, []deploy.HostResult{{Host: "10.0.0.5", Backups: []deploy.BackupReport{rep}}}); err != nil {
		t.Fatal(err)
	}
	b, err := svc.Get(ctx, "d-1", deploy.BackupID("d-1", deploy.InstanceProd, name))
	if err != nil {
		t.Fatal(err)
	}
	if c := b.Copy(deploy.CopyOffsite); c == nil || c.Location != pulled {
		t.Errorf("off-server copy %+v, want at %s", c, pulled)
	}
	if c := b.Copy(deploy.CopyMirror); c == nil || c.Location != "s3://eden-backups/"+key || c.VerifiedAt.IsZero() {
		t.Errorf("mirror copy %+v", c)
	}
	out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("eden-backups"), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("the mirror holds no copy: %v", err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(got) != string(body) {
		t.Errorf("the mirror's copy is %q", got)
	}
}

func TestMirrorNeedsEndpointAndBucket(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "edendeploy.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := newBackups(Config{DataDir: t.TempDir(), BackupMirror: &Mirror{Endpoint: "http://127.0.0.1:9"}}, st); err == nil {
		t.Errorf("a mirror without a bucket was accepted")
	}
}
