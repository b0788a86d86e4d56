# -*- coding: utf-8 -*-
# Run by Eden Deploy as `web2py.py -S eden -M -R eden-deploy/guard.py -A
# <script> [args...]`: runs <script> in the web2py environment (db, auth,
# s3db, settings...) and makes its failure the process's failure. web2py's
# shell prints an exception raised by a -R script, rolls back and exits 0,
# so a task that ran a script could not tell that it failed; a SystemExit,
# though, keeps its status. (An error in Eden's models ends web2py with
# status 1 before any script runs.)
import sys
import traceback

_guarded = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    with open(_guarded) as _f:
        _code = compile(_f.read(), _guarded, "exec")
    exec(_code, globals())
except SystemExit:
    raise
except BaseException:
    traceback.print_exc()
    sys.stderr.flush()
    raise SystemExit(1)
