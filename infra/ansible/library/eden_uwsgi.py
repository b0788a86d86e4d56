#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Eden Deploy's own module: starts, reloads and warms the uWSGI app of an
# Eden instance, and returns only when its workers are up and warm.
#
# A web2py worker's first request costs seconds (it imports Eden's modules
# and fills its caches); a run that reported success while the workers were
# cold would leave that cost to the first users. So after a start or a
# reload the module sends requests to the app's own socket (the uwsgi
# protocol, as nginx does) until every worker has answered one, reading
# which did from uWSGI's stats server. A reload is graceful (the
# touch-reload file) and the module waits until every worker was replaced.
# An answer of 500 or more is a failure, with the start of the page: a run
# that leaves Eden broken must not succeed.

DOCUMENTATION = r"""
module: eden_uwsgi
short_description: Start, reload and warm an Eden instance's uWSGI app
description:
  - With I(state=started), starts the app (Debian's /etc/init.d/uwsgi) when it
    does not run; with I(state=reloaded), reloads it gracefully (or starts it)
    and waits until every worker was replaced; with I(state=warm), changes
    nothing. In every state, each worker that has answered no request yet is
    sent one, until all have (or I(timeout) passes).
  - C(changed) is true when the app was started or reloaded; warming is not
    a change.
options:
  name: {description: The app's name (/etc/uwsgi/apps-enabled/<name>.ini)., type: str, required: true}
  home: {description: The instance's home (its touch-reload file is <home>/uwsgi-reload)., type: path, required: true}
  socket: {description: The app's uwsgi socket, such as 127.0.0.1:59025 or [::]:59025., type: str, required: true}
  url: {description: The instance's URL (the Host and scheme of the warm-up requests)., type: str, required: true}
  state: {description: See above., type: str, choices: [started, reloaded, warm], default: warm}
  request:
    description: >-
      With state reloaded, the ID of the request to reload; it is recorded in
      <home>/.eden-deploy-restarted after the reload, and the same ID again
      reloads nothing (a retried step).
    type: str
    default: ""
  path: {description: The path the warm-up requests ask for., type: str, default: /}
  timeout: {description: Seconds to wait for the app's workers., type: int, default: 600}
"""

import json
import os
import socket
import struct
import subprocess
import threading
import time
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule

RUN_DIR = "/run/uwsgi/app"


class Failure(Exception):
    """The app cannot be made to run and answer; the message says why."""


def stats_path(name):
    return os.path.join(RUN_DIR, name, "stats")


def read_stats(name):
    """uWSGI's stats document, or None while the stats server is down."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(stats_path(name))
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    except OSError:
        return None
    finally:
        s.close()
    try:
        return json.loads(b"".join(chunks).decode("utf-8", "replace"))
    except ValueError:
        return None


def master_running(name):
    """Whether the app's master process runs (its pid file names a live
    uWSGI of this app)."""
    try:
        with open(os.path.join(RUN_DIR, name, "pid")) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (OSError, ValueError):
        return False
    return ("apps-enabled/%s.ini" % name) in cmdline


def start(name):
    env = dict(os.environ, SYSTEMCTL_SKIP_REDIRECT="1")
    p = subprocess.run(["/etc/init.d/uwsgi", "start", name], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise Failure("/etc/init.d/uwsgi start %s: exit status %d: %s" % (name, p.returncode, p.stdout.decode("utf-8", "replace").strip()))


def workers(stats):
    return [w for w in (stats or {}).get("workers", []) if w.get("pid")]


def wait_workers(name, deadline, replaced=()):
    """Waits until the app's stats list its workers, none of them one of
    the pids in replaced, and returns them."""
    replaced = set(replaced)
    while True:
        ws = workers(read_stats(name))
        if ws and not any(w["pid"] in replaced for w in ws) and all(w.get("status") != "cheap" for w in ws):
            return ws
        if time.time() > deadline:
            raise Failure("the %s app's workers did not come up (still %s)" % (name, [w.get("pid") for w in ws] or "no stats"))
        time.sleep(0.2)


def address(sock):
    """Where to connect for a uwsgi socket the app binds."""
    host, _, port = sock.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host, int(port)


def uwsgi_request(addr, url, path, timeout):
    """One GET over the uwsgi protocol; returns (status, start of body)."""
    u = urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    env = {
        "REQUEST_METHOD": "GET", "REQUEST_URI": path, "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": u.hostname or "localhost", "SERVER_PORT": str(port),
        "HTTP_HOST": u.netloc, "REMOTE_ADDR": "127.0.0.1", "UWSGI_SCHEME": u.scheme or "http",
        "HTTP_USER_AGENT": "Eden Deploy warm-up",
    }
    body = b"".join(
        struct.pack("<H", len(k.encode())) + k.encode() + struct.pack("<H", len(v.encode())) + v.encode()
        for k, v in env.items()
    )
    packet = struct.pack("<BHB", 0, len(body), 0) + body
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(addr)
        s.sendall(packet)
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    fields = head.split(b"\r\n", 1)[0].split()
    try:
        status = int(fields[1])
    except (IndexError, ValueError):
        raise Failure("the app's answer to %s is not HTTP: %r" % (path, data[:200]))
    return status, rest[:400].decode("utf-8", "replace")


def warm(name, sock, url, path, deadline):
    """Sends requests until every worker has answered one; returns how many
    requests it sent. uWSGI counts each worker's requests from its spawn."""
    addr = address(sock)
    sent = 0
    errors = []
    while True:
        cold = [w for w in wait_workers(name, deadline) if w.get("requests", 0) == 0]
        if not cold:
            return sent
        if time.time() > deadline:
            raise Failure("%d workers of the %s app answered no request in time" % (len(cold), name))
        # As many at once as there are cold workers: a worker busy with its
        # first (slow) request leaves the next to another.
        results = [None] * len(cold)

        def one(i):
            try:
                results[i] = uwsgi_request(addr, url, path, max(1, deadline - time.time()))
            except (OSError, Failure) as e:
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(cold))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sent += len(cold)
        for r in results:
            if isinstance(r, Failure):
                raise r
            if isinstance(r, OSError):
                errors.append(str(r))
                if len(errors) > 20:
                    raise Failure("the %s app does not answer on %s:%d: %s" % (name, addr[0], addr[1], errors[-1]))
                time.sleep(0.5)
            elif r[0] >= 500:
                raise Failure("the %s app answers %s with status %d: %s" % (name, path, r[0], " ".join(r[1].split())[:300]))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            home=dict(type="path", required=True),
            socket=dict(type="str", required=True),
            url=dict(type="str", required=True),
            state=dict(type="str", choices=["started", "reloaded", "warm"], default="warm"),
            request=dict(type="str", default=""),
            path=dict(type="str", default="/"),
            timeout=dict(type="int", default=600),
        ),
        supports_check_mode=True,
    )
    p = module.params
    name, state = p["name"], p["state"]
    record = os.path.join(p["home"], ".eden-deploy-restarted")
    result = dict(changed=False, started=False, reloaded=False, warmed=0)
    running = master_running(name)
    if state in ("started", "reloaded") and not running:
        result.update(changed=True, started=True)
    elif state == "reloaded":
        done = False
        if p["request"]:
            try:
                with open(record) as f:
                    done = f.read().strip() == p["request"]
            except OSError:
                pass
        result.update(changed=not done, reloaded=not done)
    if module.check_mode:
        module.exit_json(**result)

    deadline = time.time() + p["timeout"]
    try:
        if result["started"]:
            start(name)
        elif result["reloaded"]:
            before = [w["pid"] for w in wait_workers(name, deadline)]
            reload_file = os.path.join(p["home"], "uwsgi-reload")
            with open(reload_file, "a"):
                os.utime(reload_file)
            wait_workers(name, deadline, replaced=before)
        elif not running:
            # state warm on an app that does not run: nothing to warm.
            module.exit_json(**result)
        if result["reloaded"] and p["request"]:
            with open(record + ".new", "w") as f:
                f.write(p["request"] + "\n")
            os.rename(record + ".new", record)
        result["warmed"] = warm(name, p["socket"], p["url"], p["path"], deadline)
    except Failure as e:
        module.fail_json(msg=str(e), **result)
    result["pids"] = [w["pid"] for w in workers(read_stats(name))]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
