# -*- coding: utf-8 -*-
# Written by Eden Deploy: Eden is the default application of this web2py.
routers = dict(
    BASE=dict(
        default_application="eden",
    ),
)
