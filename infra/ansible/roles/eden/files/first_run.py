# -*- coding: utf-8 -*-
# Run by Eden Deploy through guard.py: Eden's models have just run with
# migrate (and, on an empty database, prepopulate) on. Keep what they did.
db.commit()
