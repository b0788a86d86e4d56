# install.mk: the install test (included by the Makefile). It installs
# Eden's stack with the real roles on disposable Debian 12 servers made on
# this machine; docs/install-test.md says what it proves and what not.
#
# The debootstrap template and the package layer are cached outside the
# repository (a fresh clone on the same machine starts warm); testhost's
# other tests share the cache. EDEN_INSTALLTEST_PACKAGES=proxy makes the
# roles install every package through the apt proxy instead of finding
# them in the layer; EDEN_INSTALLTEST_REPORT=<file> appends the timings.

INSTALL_TEST_CACHE ?= /var/cache/edendeploy-testhost
export EDEN_TESTHOST_CACHE ?= $(INSTALL_TEST_CACHE)

.PHONY: test-install

## test-install: Eden (stand-in app) all-in-one and 3-tier with the real roles, every playbook.
test-install: deps-apt
	EDEN_REQUIRE_PEERS=1 EDEN_INSTALL_TEST=1 $(GO) test -count=1 -v -run '^TestInstall$$' -timeout 30m ./internal/installtest/
