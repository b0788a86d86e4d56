# -*- coding: utf-8 -*-
# Does nothing: `web2py.py -S eden -M -R .../noop.py` only runs the models.
