# install.mk: the install test (included by the Makefile). It installs real
# Sahana Eden (../shared/eden-sources, or $EDEN_SOURCES) with the real roles
# on disposable Debian 12 servers (all-in-one and 3-tier) and on an Ubuntu
# 24.04 server (all-in-one) made on this machine, side by side;
# docs/install-test.md says what it proves and what not.
#
# The debootstrap templates and their package layers are cached in the
# project (.cache/testhost, ignored by git): the first run builds them, later
# ones start warm. Plain `go test` uses the same folder, and so do testhost's
# own tests. EDEN_TESTHOST_CACHE=<dir> (environment or make variable) puts the
# cache elsewhere, e.g. one shared by several clones on this machine.
# EDEN_INSTALLTEST_PACKAGES=proxy makes the roles install every package
# through the apt proxy instead of finding them in the layer;
# EDEN_INSTALLTEST_REPORT=<file> appends the timings.

export EDEN_TESTHOST_CACHE ?= $(CURDIR)/.cache/testhost

.PHONY: test-install

## test-install: real Eden all-in-one and 3-tier on Debian 12, all-in-one on Ubuntu 24.04, with the real roles, every playbook.
test-install: deps-apt
	EDEN_REQUIRE_PEERS=1 EDEN_INSTALL_TEST=1 $(GO) test -count=1 -v -parallel 4 -run '^TestInstall$$' -timeout 60m ./internal/installtest/
