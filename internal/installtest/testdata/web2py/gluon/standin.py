# -*- coding: utf-8 -*-
"""What the stand-in web2py shares between its CLI and its WSGI handler.

Eden Deploy's install test cannot fetch web2py or Sahana Eden, so it serves
this instead. It does what the roles rely on web2py and Eden to do: read
models/000_config.py (the settings object, import_template, the database
settings), connect to PostgreSQL with them, create tables when migrate is
on, and give scripts run with -S eden -M -R a small `db` and `auth`.
"""
import hashlib
import json
import os
import time

import psycopg2


class Storage(dict):
    """A dict with attribute access; a missing attribute is a new Storage,
    as web2py's settings groups (settings.base, settings.database) are."""

    def __getattr__(self, key):
        if key.startswith("__"):
            raise AttributeError(key)
        if key not in self:
            self[key] = Storage()
        return self[key]

    def __setattr__(self, key, value):
        self[key] = value


class Settings(Storage):
    def import_template(self):
        # Eden's settings.import_template() loads modules/templates/<name>.
        self["template_imported"] = True


def app_dir(home):
    return os.path.join(home, "applications", "eden")


def load_config(home):
    """Execute models/000_config.py as Eden's first model does."""
    path = os.path.join(app_dir(home), "models", "000_config.py")
    with open(path, encoding="utf-8") as f:
        src = f.read()
    settings = Settings()
    env = {"settings": settings, "__file__": path}
    exec(compile(src, path, "exec"), env)
    if env.get("FINISHED_EDITING_CONFIG_FILE") is not True:
        raise SystemExit("000_config.py: FINISHED_EDITING_CONFIG_FILE is not True")
    if not settings.get("template_imported"):
        raise SystemExit("000_config.py: settings.import_template() was not called")
    return env


def connect(settings):
    db = settings.database
    if db.get("db_type") != "postgres":
        raise SystemExit("000_config.py: settings.database.db_type is %r" % (db.get("db_type"),))
    return psycopg2.connect(
        host=db.host, port=db.port, dbname=db.database, user=db.username,
        password=db.password, connect_timeout=5,
    )


def instance_type(home):
    name = os.path.basename(os.path.normpath(home))
    return "prod" if name == "web2py" else name


def eden_version(home):
    try:
        with open(os.path.join(app_dir(home), "VERSION"), encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


def record(home, event):
    """Append one JSON line to databases/standin.log (what ran, when)."""
    d = os.path.join(app_dir(home), "databases")
    os.makedirs(d, exist_ok=True)
    event = dict(event, at=time.time(), pid=os.getpid())
    with open(os.path.join(d, "standin.log"), "a", encoding="utf-8") as f:
        f.write(json.dumps(event, sort_keys=True) + "\n")


TABLES = {
    "auth_user": "id serial PRIMARY KEY, email text UNIQUE, first_name text, last_name text, "
                 "password text, registration_key text",
    "auth_membership": "user_id integer, role text, UNIQUE (user_id, role)",
    "standin_prepopulate": "option text PRIMARY KEY",
}
COLUMNS = {"id", "email", "first_name", "last_name", "password", "registration_key"}


def migrate(conn, home, fake):
    """Create the tables (unless fake) and write web2py's .table files."""
    d = os.path.join(app_dir(home), "databases")
    os.makedirs(d, exist_ok=True)
    if not fake:
        with conn.cursor() as cur:
            for name, cols in TABLES.items():
                cur.execute("CREATE TABLE IF NOT EXISTS %s (%s)" % (name, cols))
    for name in TABLES:
        with open(os.path.join(d, "standin_%s.table" % name), "w", encoding="utf-8") as f:
            f.write(json.dumps({"table": name, "columns": TABLES[name]}) + "\n")


def prepopulate(conn, options):
    """On an empty database, record each prepopulate option once."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM standin_prepopulate")
        if cur.fetchone()[0] == 0:
            for o in options:
                cur.execute("INSERT INTO standin_prepopulate (option) VALUES (%s)", (o,))
            return True
    return False


def crypt(password):
    """The stand-in for web2py's CRYPT validator: sha256, hex."""
    return "sha256$" + hashlib.sha256(password.encode("utf-8")).hexdigest()


# A very small DAL: just what Eden Deploy's admin_user.py uses.
class Query(object):
    def __init__(self, column, value):
        self.column, self.value = column, value


class Field(object):
    def __init__(self, table, name):
        if name not in COLUMNS:
            raise AttributeError("stand-in DAL: no field %s" % name)
        self.table, self.name = table, name

    def __eq__(self, value):
        return Query(self.name, value)

    __hash__ = object.__hash__

    def validate(self, value):
        return (crypt(value), None)


class Row(Storage):
    def update_record(self, **fields):
        self["_db"].update(self["_table"], self.id, fields)


class Rows(list):
    def first(self):
        return self[0] if self else None


class Table(object):
    def __init__(self, db, name):
        self._db, self._name = db, name

    def __getattr__(self, name):
        return Field(self, name)

    def insert(self, **fields):
        return self._db.insert(self._name, fields)


class Set(object):
    def __init__(self, db, query):
        self.db, self.query = db, query

    def select(self, *fields, **kwargs):
        with self.db.conn.cursor() as cur:
            cur.execute("SELECT id FROM auth_user WHERE %s = %%s" % self.query.column, (self.query.value,))
            return Rows(Row(id=r[0], _db=self.db, _table="auth_user") for r in cur.fetchall())


class DAL(object):
    def __init__(self, conn):
        self.conn = conn

    def __call__(self, query):
        return Set(self, query)

    def __getattr__(self, name):
        if name != "auth_user":
            raise AttributeError("stand-in DAL: no table %s" % name)
        return Table(self, name)

    def insert(self, table, fields):
        cols = [c for c in fields if c in COLUMNS]
        with self.conn.cursor() as cur:
            cur.execute("INSERT INTO %s (%s) VALUES (%s) RETURNING id" % (
                table, ", ".join(cols), ", ".join(["%s"] * len(cols))), [fields[c] for c in cols])
            return cur.fetchone()[0]

    def update(self, table, row_id, fields):
        cols = [c for c in fields if c in COLUMNS]
        with self.conn.cursor() as cur:
            cur.execute("UPDATE %s SET %s WHERE id = %%s" % (
                table, ", ".join("%s = %%s" % c for c in cols)), [fields[c] for c in cols] + [row_id])

    def commit(self):
        self.conn.commit()


class Auth(object):
    def __init__(self, db):
        self.db = db

    def s3_assign_role(self, user_id, role):
        with self.db.conn.cursor() as cur:
            cur.execute("INSERT INTO auth_membership (user_id, role) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING", (user_id, role))
