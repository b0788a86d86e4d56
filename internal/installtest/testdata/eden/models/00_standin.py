# -*- coding: utf-8 -*-
# Stand-in for Eden's models: the stand-in web2py reads only 000_config.py.
