# -*- coding: utf-8 -*-
# Stand-in for Eden's compile.py, run as `web2py.py -S eden -M -R
# applications/eden/static/scripts/tools/compile.py`: web2py would compile
# the application into applications/eden/compiled.
import os
import time

d = os.path.join(request.folder, "compiled")
os.makedirs(d, exist_ok=True)
with open(os.path.join(d, "compiled.txt"), "a", encoding="utf-8") as f:
    f.write("compiled at %f\n" % time.time())
