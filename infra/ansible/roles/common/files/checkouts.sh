#!/bin/sh
# Eden Deploy: the state of an instance's checkouts, one line each:
#   web2py <state>   the web2py checkout in $1 (with its submodules)
#   eden <state>     the Eden checkout in $1/applications/eden
#   configured       when Eden's models/000_config.py is there
#   imp-missing      when python3 has no imp module (3.12 and later)
# A state is absent (nothing checked out), ok (HEAD is a commit and every
# tracked file, and every submodule, is there), partial (a checkout that a
# failed run left half-done: files or submodules missing) or broken (a .git
# whose HEAD is no commit). Read-only; runs as any user.
home="$1"
g() { git -c safe.directory='*' -C "$@"; }
state() {
	if [ ! -e "$1/.git" ]; then echo absent; return; fi
	if ! g "$1" rev-parse -q --verify 'HEAD^{commit}' >/dev/null 2>&1; then echo broken; return; fi
	if [ -n "$(g "$1" ls-files --deleted 2>/dev/null | head -n 1)" ]; then echo partial; return; fi
	if [ "$2" = submodules ] && [ -e "$1/.gitmodules" ] &&
		g "$1" submodule status --recursive 2>/dev/null | grep -q '^[-+U]'; then
		echo partial
		return
	fi
	echo ok
}
echo "web2py $(state "$home" submodules)"
echo "eden $(state "$home/applications/eden" none)"
if [ -e "$home/applications/eden/models/000_config.py" ]; then echo configured; fi
if ! python3 -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("imp") is None)' 2>/dev/null; then
	echo imp-missing
fi
