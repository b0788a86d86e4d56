package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// contextFile is edenctl's own configuration, $XDG_CONFIG_HOME/edenctl/
// config.yaml (or ~/.config/edenctl/config.yaml): named endpoints with
// their tokens, and the one in use. It holds tokens, so edenctl writes it
// 0600 (in a 0700 directory) and never prints a token from it.
//
//	current-context: local
//	contexts:
//	  - name: local
//	    endpoint: http://127.0.0.1:8080
//	    token: edt_...
type contextFile struct {
	CurrentContext string       `yaml:"current-context,omitempty"`
	Contexts       []apiContext `yaml:"contexts"`
}

// apiContext is one named endpoint and the token to send it.
type apiContext struct {
	Name     string `yaml:"name"`
	Endpoint string `yaml:"endpoint"`
	Token    string `yaml:"token,omitempty"`
}

// find returns the context called name, or nil.
func (f *contextFile) find(name string) *apiContext {
	for i := range f.Contexts {
		if f.Contexts[i].Name == name {
			return &f.Contexts[i]
		}
	}
	return nil
}

func (f *contextFile) names() []string {
	var out []string
	for _, c := range f.Contexts {
		out = append(out, c.Name)
	}
	return out
}

// contextsPath is where the context file is; "" when neither
// $XDG_CONFIG_HOME nor $HOME is set.
func (a *app) contextsPath() string {
	dir := a.configDir()
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "config.yaml")
}

// loadContexts reads the context file; a missing one is empty. A file
// that others may read gets a warning: it holds tokens.
func (a *app) loadContexts() (*contextFile, error) {
	var f contextFile
	path := a.contextsPath()
	if path == "" {
		return &f, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the contexts: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 && !a.warnedMode {
		a.warnedMode = true
		fmt.Fprintf(a.stderr, "edenctl: warning: %s holds tokens and others may read it (mode %04o): chmod 600 it\n", path, st.Mode().Perm())
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// saveContexts writes the context file whole, 0600, through a temporary
// file renamed over it, so that a reader never sees half a file.
func (a *app) saveContexts(f *contextFile) error {
	path := a.contextsPath()
	if path == "" {
		return errors.New("nowhere to keep contexts: set $XDG_CONFIG_HOME or $HOME")
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save the contexts: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".config-*.yaml") // 0600
	if err != nil {
		return fmt.Errorf("save the contexts: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save the contexts: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save the contexts: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save the contexts: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save the contexts: %w", err)
	}
	return nil
}

// where tells which endpoint and token a command uses, in this order:
//
//  1. --endpoint, --token;
//  2. the context --context names;
//  3. EDEN_ENDPOINT, EDEN_TOKEN;
//  4. the current context of the context file;
//  5. http://127.0.0.1:8080, and the token file $XDG_CONFIG_HOME/edenctl/token
//     (read when a request is made).
//
// A context's token is sent only to that context's own endpoint: with
// another endpoint (from a flag or EDEN_ENDPOINT), it is left out.
func (a *app) where() error {
	f, err := a.loadContexts()
	if err != nil {
		if a.contextName != "" {
			return err
		}
		// A broken file must not stop commands that do not use it.
		fmt.Fprintf(a.stderr, "edenctl: warning: %v\n", err)
		f = &contextFile{}
	}
	var explicit, current *apiContext
	if a.contextName != "" {
		if explicit = f.find(a.contextName); explicit == nil {
			return usagef("no context %q in %s (there are: %s)", a.contextName, a.contextsPath(), listOrNone(f.names()))
		}
	} else if f.CurrentContext != "" {
		current = f.find(f.CurrentContext)
	}
	if a.endpoint == "" && explicit != nil {
		a.endpoint = explicit.Endpoint
	}
	if a.endpoint == "" {
		a.endpoint = a.getenv("EDEN_ENDPOINT")
	}
	if a.endpoint == "" && current != nil {
		a.endpoint = current.Endpoint
	}
	if a.endpoint == "" {
		a.endpoint = "http://127.0.0.1:8080"
	}
	own := func(c *apiContext) string {
		if c != nil && c.Endpoint == a.endpoint {
			return c.Token
		}
		return ""
	}
	if a.token == "" {
		a.token = own(explicit)
	}
	if a.token == "" {
		a.token = a.getenv("EDEN_TOKEN")
	}
	if a.token == "" {
		a.token = own(current)
	}
	return nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}
