# -*- coding: utf-8 -*-
# Run by Eden Deploy on an eden host, as the instance's database role: read,
# write or forget the clean record of the instance's database, its comment
# (roles/postgresql/tasks/clean_check.yml says what it holds). libpq takes
# the connection from the PG* environment variables, and the password from
# the first line of stdin, as JSON (never from the environment or an
# argument, which others on the host can read). One argument:
#   state   print "recreated" when a clean's db step recreated the database
#           and the clean has not finished, else "other"
#   record  once a clean's first run is done: turn the "recreated" record
#           into a "cleaned" one with the fingerprint of the content now
#           (content_fingerprint.sql, on stdin after the password); print "recorded", or
#           "not recreated" (and record nothing) without a "recreated" record
#   forget  drop a "cleaned" record, as the instance's configuration or code
#           changed and a clean would not leave what it recorded: print
#           "forgotten", or "none" when there was none
import json
import sys

import psycopg2
from psycopg2 import sql

RECREATED = "Eden Deploy: recreated; source "
CLEANED = "Eden Deploy: cleaned; "


def main(action):
    conn = psycopg2.connect("", password=json.loads(sys.stdin.readline()))
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(
        "SELECT current_database(), coalesce(shobj_description(oid, 'pg_database'), '')"
        " FROM pg_database WHERE datname = current_database()"
    )
    name, record = cur.fetchone()
    comment = sql.SQL("COMMENT ON DATABASE {} IS %s").format(sql.Identifier(name))
    if action == "state":
        print("recreated" if record.startswith(RECREATED) else "other")
    elif action == "record":
        if not record.startswith(RECREATED):
            print("not recreated")
            return
        cur.execute(sys.stdin.read())  # no parameters: % in the SQL stays as it is
        content = cur.fetchone()[0]
        source = record[len(RECREATED):]
        cur.execute(comment, ("%scontent %s; source %s" % (CLEANED, content, source),))
        print("recorded")
    elif action == "forget":
        if not record.startswith(CLEANED):
            print("none")
            return
        cur.execute(comment, (None,))
        print("forgotten")
    else:
        raise SystemExit("clean_record.py: unknown action %r" % action)


main(sys.argv[1] if len(sys.argv) == 2 else "")
