# -*- coding: utf-8 -*-
# Stand-in: the stand-in WSGI handler answers every request itself.
