# -*- coding: utf-8 -*-
"""Stand-in for web2py's WSGI handler (Eden Deploy's install test).

Eden Deploy copies it to web2py's folder, where uWSGI loads it. Each
request reads 000_config.py again (web2py runs the models per request),
connects to the database with its settings and answers 200 with a JSON
document: the instance, whether the database answered, and a few settings.
"""
import json
import os
import socket
import sys
import time

HOME = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HOME)

from gluon import standin  # noqa: E402

STARTED = time.time()


def application(environ, start_response):
    doc = {
        "app": "eden-standin",
        "instance": standin.instance_type(HOME),
        "home": HOME,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": STARTED,
        "eden_version": standin.eden_version(HOME),
        "path": environ.get("PATH_INFO", ""),
    }
    try:
        env = standin.load_config(HOME)
        s = env["settings"]
        doc["template"] = s.base.get("template")
        doc["public_url"] = s.base.get("public_url")
        doc["system_name"] = s.base.get("system_name")
        doc["migrate"] = s.base.get("migrate")
        doc["db_name"] = s.database.get("database")
        conn = standin.connect(s)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_user, host(inet_server_addr()), postgis_version()")
                user, addr, postgis = cur.fetchone()
                cur.execute("SELECT count(*) FROM auth_user")
                users = cur.fetchone()[0]
        finally:
            conn.close()
        doc.update(db="ok", db_user=user, db_server=addr, postgis=postgis, users=users)
    except BaseException as e:  # the stand-in reports, it does not crash
        doc["db"] = "error: %s" % (str(e).strip() or type(e).__name__)
    body = (json.dumps(doc, sort_keys=True) + "\n").encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
