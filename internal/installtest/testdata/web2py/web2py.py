#!/usr/bin/env python3
# -*- coding: utf-8 -*-
"""Stand-in for web2py's command line (Eden Deploy's install test).

It accepts what Eden Deploy's roles run: `web2py.py -S eden -M -R SCRIPT`.
Like web2py with -M it runs the models first: it reads 000_config.py,
connects to PostgreSQL with its settings (failing loudly if they are
wrong), creates the tables when settings.base.migrate is on (only the
.table files with fake_migrate), prepopulates an empty database, then runs
SCRIPT with `db`, `auth`, `settings` and `request` defined.
"""
import argparse
import os
import sys

HOME = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HOME)

from gluon import standin  # noqa: E402


def main(argv):
    p = argparse.ArgumentParser(prog="web2py.py")
    p.add_argument("-S", "--shell", required=True)
    p.add_argument("-M", "--import_models", action="store_true")
    p.add_argument("-R", "--run", required=True)
    a = p.parse_args(argv)
    if a.shell != "eden":
        p.error("only the eden application exists here, not %r" % a.shell)
    if os.getcwd() != HOME:
        p.error("run me from %s (web2py's folder), not %s" % (HOME, os.getcwd()))
    env = standin.load_config(HOME)
    settings = env["settings"]
    conn = standin.connect(settings)
    db = standin.DAL(conn)
    phase = "none"
    prepopulated = False
    if a.import_models and settings.base.get("migrate") is True:
        fake = settings.base.get("fake_migrate") is True
        phase = "fake_migrate" if fake else "migrate"
        standin.migrate(conn, HOME, fake)
        prepop = settings.base.get("prepopulate")
        if not fake and isinstance(prepop, (list, tuple)) and prepop:
            prepopulated = standin.prepopulate(conn, list(prepop))
        conn.commit()
    standin.record(HOME, {
        "script": a.run, "phase": phase, "prepopulated": prepopulated,
        "template": settings.base.get("template"), "db": settings.database.get("database"),
    })
    script = os.path.join(HOME, a.run)
    with open(script, encoding="utf-8") as f:
        code = compile(f.read(), script, "exec")
    g = {"__name__": "__main__", "db": db, "auth": standin.Auth(db), "settings": settings,
         "request": standin.Storage(folder=standin.app_dir(HOME), application="eden")}
    exec(code, g)
    conn.commit()
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1:])
