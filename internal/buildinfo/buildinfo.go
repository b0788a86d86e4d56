// Package buildinfo tells which build of Eden Deploy is running: the
// version and commit that the Makefile stamps at link time, or else what
// the Go toolchain recorded in the binary, and the Go version it was built
// with. edenctl prints it (`edenctl version`) and the API serves it
// (GET /v1/version).
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Stamped at link time by the Makefile:
//
//	-ldflags "-X github.com/edendeploy/edendeploy/internal/buildinfo.version=v1.2.0
//	          -X github.com/edendeploy/edendeploy/internal/buildinfo.commit=0123abcd"
//
// They are variables only because -X can set nothing else; nothing
// assigns them at run time.
var version, commit string

// Info describes one build. Its JSON names are the API's.
type Info struct {
	// Version is the release ("v1.2.0"), or "dev" for a build that was not
	// stamped with one.
	Version string `json:"version"`
	// Commit is the source's git commit, or "unknown".
	Commit string `json:"commit"`
	// GoVersion is the Go toolchain that built the binary ("go1.26.8").
	GoVersion string `json:"go_version"`
}

// Get returns the running binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuild(version, commit, bi)
}

// fromBuild prefers the stamped values, then what the toolchain recorded
// (a module version when built with go install, the VCS revision when
// built with VCS stamping on).
func fromBuild(version, commit string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: commit, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && info.Commit == "" {
				info.Commit = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}
