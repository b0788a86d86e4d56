package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFromBuild(t *testing.T) {
	recorded := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.3.0"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}}}
	devel := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	for _, tc := range []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		{"stamped wins", "v1.2.0", "0123abcd", recorded, Info{"v1.2.0", "0123abcd", "go1.26.8"}},
		{"recorded by the toolchain", "", "", recorded, Info{"v0.3.0", "abc123", "go1.26.8"}},
		{"a plain build", "", "", devel, Info{"dev", "unknown", "go1.26.8"}},
		{"no build information", "", "", nil, Info{"dev", "unknown", runtime.Version()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, fromBuild(tc.version, tc.commit, tc.bi)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestGetNamesTheToolchain(t *testing.T) {
	if got := Get(); got.GoVersion != runtime.Version() || got.Version == "" || got.Commit == "" {
		t.Errorf("Get() = %+v", got)
	}
}
