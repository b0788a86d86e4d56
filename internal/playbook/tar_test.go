package playbook

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

func TestTarGzDeterministicAndRoundTrips(t *testing.T) {
	d := newDeployment(t, tierServers(), deploy.InstanceProd, deploy.InstancePending)
	r := newRun(t, d, deploy.RunRequest{Kind: deploy.RunDeploy, Instance: deploy.InstanceProd})
	b1, err := Render(Input{Deployment: d, Run: r, Step: 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := Render(Input{Deployment: d, Run: r, Step: 1}, Options{})
	t1, err := b1.TarGz()
	if err != nil {
		t.Fatal(err)
	}
	t2, _ := b2.TarGz()
	if !bytes.Equal(t1, t2) {
		t.Fatal("two renders of the same step give different archives")
	}
	if b1.Meta.Hash != b2.Meta.Hash {
		t.Fatal("two renders of the same step give different hashes")
	}
	dir := t.TempDir()
	if err := Extract(t1, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range b1.Files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("%s differs after extraction", f.Name)
		}
		if fi, _ := os.Stat(filepath.Join(dir, f.Name)); fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", f.Name, fi.Mode().Perm())
		}
	}
}

func tgz(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestExtractRefuses(t *testing.T) {
	reg := func(name string, size int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size}
	}
	tests := []struct {
		name string
		data func(t *testing.T) []byte
		want string
	}{
		{"absolute path", func(t *testing.T) []byte { return tgz(t, reg("/etc/evil", 1)) }, "refusing entry name"},
		{"dot-dot", func(t *testing.T) []byte { return tgz(t, reg("roles/../../evil", 1)) }, "refusing entry name"},
		{"symlink", func(t *testing.T) []byte {
			return tgz(t, &tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})
		}, "only files and directories"},
		{"hard link", func(t *testing.T) []byte {
			return tgz(t, &tar.Header{Name: "link", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"})
		}, "only files and directories"},
		{"duplicate entry", func(t *testing.T) []byte { return tgz(t, reg("a", 1), reg("a", 1)) }, "file exists"},
		{"oversized contents", func(t *testing.T) []byte {
			return tgz(t, reg("a", MaxExtractBytes/2+1), reg("b", MaxExtractBytes/2+1))
		}, "limit"},
		{"oversized archive", func(t *testing.T) []byte { return make([]byte, MaxBundleBytes+1) }, "limit"},
		{"not gzip", func(t *testing.T) []byte { return []byte("plain") }, "extract"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			err := Extract(tt.data(t), filepath.Join(dir))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Extract = %v, want an error containing %q", err, tt.want)
			}
			if _, err := os.Stat("/etc/evil"); err == nil {
				t.Fatal("an absolute entry was written")
			}
		})
	}
}

func TestSafeName(t *testing.T) {
	var got []string
	for _, n := range []string{"a", "a/b.yml", "", ".", "/a", "a/../b", "..", "a//b", "./a", "a\\b", "a/"} {
		if SafeName(n) {
			got = append(got, n)
		}
	}
	if diff := cmp.Diff([]string{"a", "a/b.yml"}, got); diff != "" {
		t.Errorf("safe names (-want +got):\n%s", diff)
	}
}

// BenchmarkPlanAndRender3Tier plans a 3-tier deploy and renders and packs
// every step, as the workflow does for a run.
func BenchmarkPlanAndRender3Tier(b *testing.B) {
	d := newDeployment(b, tierServers(), deploy.InstanceProd, deploy.InstancePending)
	b.ReportAllocs()
	for b.Loop() {
		r := &deploy.Run{ID: "r-bench", DeploymentID: d.ID, Kind: deploy.RunDeploy, Instance: deploy.InstanceProd}
		steps, err := deploy.Plan(d, r)
		if err != nil {
			b.Fatal(err)
		}
		r.Steps = steps
		for i := range steps {
			bundle, err := Render(Input{Deployment: d, Run: r, Step: i}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := bundle.TarGz(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
