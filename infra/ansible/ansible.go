// Package ansible carries Eden Deploy's Ansible playbooks and roles inside
// the binary, so that internal/playbook can render bundles without files on
// disk.
//
// The playbooks (deploy.yml, clean.yml, pull.yml, restart.yml, backup.yml,
// reconfigure.yml, restore.yml, remove.yml, maintenance-on.yml and
// maintenance-off.yml), ansible.cfg and the real roles (common, postgresql,
// eden, uwsgi, nginx) install Sahana Eden on Debian 12 and Ubuntu 24.04.
// The test roles have the same names and entry points but change nothing:
// each records the eden_* variables it received, for tests of the runners
// and of rendering. The variables every role reads are documented in
// package internal/playbook.
package ansible

import (
	"embed"
	"io/fs"
)

// Files holds the playbooks, ansible.cfg, the real roles under roles/, the
// results callback plugin under callback_plugins/ and Eden Deploy's own
// modules under library/.
//
//go:embed ansible.cfg *.yml roles callback_plugins/eden_results.py library/*.py
var Files embed.FS

// CallbackPluginFile is where Files (and every bundle) holds the callback
// plugin that writes per-host results for the runners.
const CallbackPluginFile = "callback_plugins/eden_results.py"

// CallbackPlugin returns the source of the results callback plugin.
func CallbackPlugin() []byte {
	b, err := fs.ReadFile(Files, CallbackPluginFile)
	if err != nil {
		panic("ansible: embedded " + CallbackPluginFile + ": " + err.Error())
	}
	return b
}

// ModuleDir is where Files (and every bundle) holds Eden Deploy's own
// modules; Ansible finds a library/ beside the playbook without settings.
const ModuleDir = "library"

// Modules returns Eden Deploy's own modules, by file name.
func Modules() fs.FS { return mustSub(Files, ModuleDir) }

// TestRoleFiles holds the recording test roles under testroles/.
//
//go:embed testroles
var TestRoleFiles embed.FS

// Roles returns the real roles, one directory per role.
func Roles() fs.FS { return mustSub(Files, "roles") }

// TestRoles returns the recording test roles, one directory per role.
func TestRoles() fs.FS { return mustSub(TestRoleFiles, "testroles") }

// mustSub cannot fail: dir is a constant directory embedded above.
func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic("ansible: embedded directory " + dir + ": " + err.Error())
	}
	return sub
}
