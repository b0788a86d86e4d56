# -*- coding: utf-8 -*-
# Stand-in for the 000_config.py template Sahana Eden ships. Eden Deploy
# writes models/000_config.py itself (roles/eden/templates/000_config.py.j2).
FINISHED_EDITING_CONFIG_FILE = False
settings.base.template = "default"
settings.import_template()
VERSION = 1
