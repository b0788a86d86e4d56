package main

import (
	"context"
	"errors"
)

// cmdServe runs the local control plane (assembled in internal/localplane)
// until interrupted.
func cmdServe(ctx context.Context, a *app, args []string) error {
	fs := a.flags("serve")
	dataDir := fs.String("data-dir", "", "")
	addr := fs.String("addr", "127.0.0.1:8080", "")
	if _, err := a.parse(fs, args, 0, 0, "[--data-dir DIR] [--addr HOST:PORT]"); err != nil {
		return err
	}
	if *dataDir == "" {
		*dataDir = a.defaultDataDir()
		if *dataDir == "" {
			return usagef("serve needs --data-dir (or $XDG_DATA_HOME or $HOME)")
		}
	}
	// TODO(localplane): internal/localplane is not committed yet. Once it
	// is, this line becomes:
	//	return localplane.Run(ctx, localplane.Config{DataDir: *dataDir, Addr: *addr, Stdout: a.stdout})
	_ = addr
	return errors.New("serve: not built yet (internal/localplane is not committed)")
}

// defaultDataDir is $XDG_DATA_HOME/edendeploy, or ~/.local/share/edendeploy.
func (a *app) defaultDataDir() string {
	if d := a.getenv("XDG_DATA_HOME"); d != "" {
		return d + "/edendeploy"
	}
	if h := a.getenv("HOME"); h != "" {
		return h + "/.local/share/edendeploy"
	}
	return ""
}
