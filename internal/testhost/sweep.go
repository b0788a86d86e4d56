package testhost

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// Sweep removes what crashed earlier runs left on this machine: every network
// namespace named edt-<PID>-... whose PID is dead, with the processes inside
// it and the Debian overlays mounted for it (the veths go with the
// namespaces). Detached clusters (PID 0) and those of live processes are left
// alone. It returns the namespaces it removed.
func Sweep(ctx context.Context) ([]string, error) {
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, fmt.Errorf("testhost: sweep: %w", err)
	}
	var removed []string
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		ns := f[0]
		pid, ok := ownerPID(ns)
		if !ok || pid == 0 || processAlive(pid) {
			continue
		}
		if err := killNetnsProcs(ctx, ns); err != nil {
			errs = append(errs, err)
		}
		// A Debian host's overlay is mounted at <dir>/<ns>/root.
		for _, m := range mountPointsNamed(ns) {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("umount %s: %w", m, err))
			}
		}
		if err := deleteNetns(ctx, ns); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, ns)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("testhost: sweep: %w", err)
	}
	return removed, nil
}

// ownerPID parses edt-<pid>-<tag>-<name>.
func ownerPID(ns string) (int, bool) {
	rest, ok := strings.CutPrefix(ns, namePrefix)
	if !ok {
		return 0, false
	}
	p, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid < 0 {
		return 0, false
	}
	return pid, true
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// mountPointsNamed lists mount points with a path element equal to ns,
// deepest first.
func mountPointsNamed(ns string) []string {
	return mountPoints(func(mp string) bool { return strings.Contains(mp+"/", "/"+ns+"/") })
}
