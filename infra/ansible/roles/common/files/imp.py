# -*- coding: utf-8 -*-
# Written by Eden Deploy. web2py 2.x imports the imp module, which Python
# 3.12 no longer has, and uses one function of it: get_magic(), the magic
# number of compiled code, which importlib gives as well. web2py finds this
# file first, as it is in web2py's own directory (the first entry of
# sys.path for web2py.py and for its WSGI handler).
import importlib.util


def get_magic():
    return importlib.util.MAGIC_NUMBER
