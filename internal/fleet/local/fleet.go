// Package local is the fleet of `edenctl serve`: what Auto Scaling and EC2
// would know on AWS (a group's tags, an instance's address), kept in one
// JSON file (0600) in the data directory and written through the admin
// API, so another autoscaler (or a test) can drive scale-out and scale-in
// with the same EventBridge event documents AWS delivers.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"unicode/utf8"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/lifecycle"
)

// Fleet is the file-backed fleet. Safe for concurrent use in one process.
type Fleet struct {
	path string
	mu   sync.Mutex
}

var _ lifecycle.Fleet = (*Fleet)(nil)

type state struct {
	Groups    map[string]map[string]string `json:"groups"`
	Instances map[string]string            `json:"instances"`
}

// Open returns the fleet kept in path (created on first write).
func Open(path string) *Fleet { return &Fleet{path: path} }

var (
	// The length (1 to 255 characters) is checked apart: a counted
	// repetition of a Unicode class compiles into 255 copies of it, about
	// 10 MB allocated at every start of edenctl.
	groupPattern    = regexp.MustCompile(`^[\p{L}\p{N} _.:/@+=-]+$`)
	instancePattern = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
)

// Limits on what the fleet keeps.
const (
	maxGroupName = 255
	maxTags      = 50
	maxTagKey    = 128
	maxTagValue  = 256
	maxInstances = 10000
)

// GroupTags returns the group's tags, or NotFound.
func (f *Fleet) GroupTags(_ context.Context, group string) (map[string]string, error) {
	st, err := f.read()
	if err != nil {
		return nil, err
	}
	tags, ok := st.Groups[group]
	if !ok {
		return nil, deploy.NotFound("group %s is not in the local fleet", group)
	}
	return tags, nil
}

// InstanceAddress returns the instance's address, or NotFound.
func (f *Fleet) InstanceAddress(_ context.Context, instanceID string) (string, error) {
	st, err := f.read()
	if err != nil {
		return "", err
	}
	a, ok := st.Instances[instanceID]
	if !ok {
		return "", deploy.NotFound("instance %s is not in the local fleet", instanceID)
	}
	return a, nil
}

// PutGroupTags sets the group's tags (Auto Scaling's names and limits).
func (f *Fleet) PutGroupTags(_ context.Context, group string, tags map[string]string) error {
	if n := utf8.RuneCountInString(group); n > maxGroupName || !groupPattern.MatchString(group) {
		return deploy.Invalid("group", "%q is not an Auto Scaling group name", group)
	}
	if len(tags) > maxTags {
		return deploy.Invalid("tags", "at most %d tags", maxTags)
	}
	for k, v := range tags {
		if k == "" || len(k) > maxTagKey || len(v) > maxTagValue {
			return deploy.Invalid("tags", "tag %q: keys are 1 to %d characters, values at most %d", k, maxTagKey, maxTagValue)
		}
	}
	return f.update(func(st *state) error {
		st.Groups[group] = tags
		return nil
	})
}

// PutInstanceAddress records the private address of an instance.
func (f *Fleet) PutInstanceAddress(_ context.Context, instanceID, address string) error {
	if !instancePattern.MatchString(instanceID) {
		return deploy.Invalid("instance", "%q is not an EC2 instance ID", instanceID)
	}
	if err := deploy.ValidateHost("address", address); err != nil {
		return err
	}
	return f.update(func(st *state) error {
		if _, ok := st.Instances[instanceID]; !ok && len(st.Instances) >= maxInstances {
			return deploy.Invalid("instance", "the local fleet holds at most %d instances", maxInstances)
		}
		st.Instances[instanceID] = address
		return nil
	})
}

func (f *Fleet) read() (*state, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load()
}

func (f *Fleet) load() (*state, error) {
	st := &state{Groups: map[string]map[string]string{}, Instances: map[string]string{}}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fleet/local: read %s: %w", f.path, err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("fleet/local: %s is not a fleet file: %w", f.path, err)
	}
	if st.Groups == nil {
		st.Groups = map[string]map[string]string{}
	}
	if st.Instances == nil {
		st.Instances = map[string]string{}
	}
	return st, nil
}

func (f *Fleet) update(change func(*state) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.load()
	if err != nil {
		return err
	}
	if err := change(st); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".fleet-*")
	if err != nil {
		return fmt.Errorf("fleet/local: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("fleet/local: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fleet/local: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fleet/local: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("fleet/local: %w", err)
	}
	return nil
}
