// Package installtest proves Eden Deploy's Ansible roles with a real
// install: disposable Debian 12 servers (internal/testhost) receive bundles
// rendered by internal/playbook from a real deploy.Deployment and its runs,
// dispatched by the local SSH runner (internal/runner/ssh) exactly as the
// state machine would, step by step in plan order.
//
// The servers cannot reach Sahana Eden's or web2py's public repositories,
// so the test serves local git repositories (git daemon on the cluster's
// gateway) holding a small stand-in laid out as web2py and Eden are
// (testdata/web2py, testdata/eden): its web2py.py reads 000_config.py,
// connects to PostgreSQL with those settings and creates tables; its WSGI
// handler answers every request with the instance, its settings and
// whether the database answered. What this proves and what it cannot is
// written in docs/install-test.md.
//
// The package holds only tests; `make test-install` runs them.
package installtest
