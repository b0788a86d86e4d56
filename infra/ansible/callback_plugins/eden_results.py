# Eden Deploy: per-host results of a playbook run, for the runner.
#
# A notification callback (it runs beside the stdout callback, it prints
# nothing). At the end of the run it writes, to the file named by the
# environment variable EDEN_RESULTS_FILE (atomically: temporary file, then
# rename), one JSON object:
#
#   {"version": 1,
#    "hosts": [{"host": "10.0.0.3", "ok": 3, "changed": 1, "failures": 0,
#               "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0,
#               "first_failure": {"task": "...", "msg": "...",
#                                 "unreachable": false}}]}
#
# first_failure is the failure that stopped the host (task name and one
# line of its message) or why it was unreachable; absent when the host did
# fine. backups, when a task of the host set the per-host custom stat
# eden_backups (ansible.builtin.set_stats, per_host), is that list: the
# dumps the host keeps (see deploy.BackupReport).
# Failures that a task ignored (ignore_errors) or a block rescued do not
# count. Without EDEN_RESULTS_FILE the plugin does nothing.
#
# Enable with ANSIBLE_CALLBACK_PLUGINS=<dir holding this file> and
# ANSIBLE_CALLBACKS_ENABLED=eden_results.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
    name: eden_results
    type: notification
    short_description: write per-host results as JSON for Eden Deploy
    description:
      - Writes per-host stats and each host's first failure to the file named by EDEN_RESULTS_FILE.
    requirements:
      - enabled in callbacks_enabled
"""

import json
import os
import re
import tempfile

from ansible.plugins.callback import CallbackBase

# A message is one line of at most MAX_MSG characters; a longer one keeps
# its first HEAD characters and its end, where a program says why it
# failed.
MAX_MSG = 600
HEAD = 150
ELLIPSIS = " [...] "
TAIL = 300

# A line that names an error ("TypeError: ...", "psycopg2.OperationalError:
# ..."), and the exception line after a traceback's frames, whatever its
# name. A bare "SystemExit: 1" says nothing.
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning))(: .*)?$")
_EXCEPTION_NAME = re.compile(r"^[A-Za-z_][\w.]*(: .*)?$")
_BARE_EXIT = re.compile(r"^SystemExit(: \d+)?$")
_TRACEBACK = "Traceback (most recent call last):"


def _one_line(text):
    text = " ".join(str(text).split())
    if len(text) > MAX_MSG:
        keep = MAX_MSG - HEAD - len(ELLIPSIS)
        text = text[:HEAD] + ELLIPSIS + text[-keep:]
    return text


def _last_exception(*texts):
    """The exception of the last traceback in the first text that has one:
    the first unindented line after the last traceback header; without a
    traceback, the last line that names an error."""
    for text in texts:
        lines = str(text or "").split("\n")
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].strip() != _TRACEBACK:
                continue
            for line in lines[i + 1:]:
                if not line or line[0] in " \t":
                    continue
                line = line.strip()
                if _EXCEPTION_NAME.match(line) and not _BARE_EXIT.match(line):
                    return line
                break
        for line in reversed(lines):
            line = line.strip()
            if _EXCEPTION.match(line) and not _BARE_EXIT.match(line):
                return line
    return ""


def _tail(text):
    text = " ".join(str(text).split())
    if len(text) > TAIL:
        text = "..." + text[-TAIL:]
    return text


def _message(res):
    """The most telling line of a failed or unreachable result: for a
    command, its exception (a traceback's last line) and the end of its
    output, which is where programs say why they failed."""
    msg, stderr, stdout = res.get("msg"), res.get("stderr"), res.get("stdout")
    if "rc" in res and (stderr or stdout) and (not msg or msg == "non-zero return code"):
        cause = _last_exception(stderr, stdout)
        end = _tail(stderr or stdout)
        text = "exit status %s" % res.get("rc")
        if cause:
            text += ": " + cause
        if not cause or cause not in end:
            text += "; output ends: " + end
        return _one_line(text)
    for key in ("msg", "stderr", "reason", "module_stderr", "stdout"):
        value = res.get(key)
        if value:
            return _one_line(value)
    results = res.get("results")  # a loop: the first failed item's message
    if isinstance(results, list):
        for item in results:
            if isinstance(item, dict) and item.get("failed"):
                return _message(item)
    rc = res.get("rc")
    if rc is not None:
        return "exit status %s" % rc
    return "failed"


def _backup(entry):
    """A reported dump with the types Eden Deploy reads: a templated
    number or boolean may arrive as text."""
    out = dict(entry)
    try:
        out["size"] = int(out.get("size", 0))
    except (TypeError, ValueError):
        out["size"] = 0
    current = out.get("current", False)
    if not isinstance(current, bool):
        out["current"] = str(current).lower() in ("true", "yes", "1")
    return out


def _rescuable(task):
    """Whether task sits in the main section of a block that has a rescue."""
    child, parent = task, getattr(task, "_parent", None)
    while parent is not None:
        if getattr(parent, "rescue", None):
            uuid = getattr(child, "_uuid", None)
            if any(t is child or getattr(t, "_uuid", None) == uuid for t in (getattr(parent, "block", None) or [])):
                return True
        child, parent = parent, getattr(parent, "_parent", None)
    return False


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "eden_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._path = os.environ.get("EDEN_RESULTS_FILE", "")
        self._failures = {}  # host -> failures in order, rescuable or not

    def _host(self, result):
        return result._host.get_name()

    def _note(self, result, msg, unreachable):
        self._failures.setdefault(self._host(result), []).append(
            {
                "task": _one_line(result._task.get_name()),
                "msg": msg,
                "unreachable": unreachable,
                "rescuable": (not unreachable) and _rescuable(result._task),
            }
        )

    def _first(self, host):
        """The failure that stopped the host: its first failure that no block
        was there to rescue, else its last one (nothing runs on a host after
        the failure that stops it)."""
        failures = self._failures.get(host, [])
        for f in failures:
            if not f["rescuable"]:
                return f
        return failures[-1] if failures else None

    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            return
        self._note(result, _message(result._result), False)

    def v2_runner_on_unreachable(self, result):
        self._note(result, _message(result._result), True)

    def v2_playbook_on_stats(self, stats):
        if not self._path:
            return
        hosts = []
        for host in sorted(stats.processed.keys()):
            s = stats.summarize(host)
            entry = {
                "host": host,
                "ok": s.get("ok", 0),
                "changed": s.get("changed", 0),
                "failures": s.get("failures", 0),
                "unreachable": s.get("unreachable", 0),
                "skipped": s.get("skipped", 0),
                "rescued": s.get("rescued", 0),
                "ignored": s.get("ignored", 0),
            }
            custom = (getattr(stats, "custom", None) or {}).get(host) or {}
            if isinstance(custom.get("eden_backups"), list):
                entry["backups"] = [_backup(b) for b in custom["eden_backups"] if isinstance(b, dict)]
            first = self._first(host)
            # A rescued failure leaves failures at 0: it is no failure.
            if first and (entry["failures"] or entry["unreachable"]):
                entry["first_failure"] = {k: first[k] for k in ("task", "msg", "unreachable")}
            hosts.append(entry)
        data = json.dumps({"version": 1, "hosts": hosts}, sort_keys=True)
        directory = os.path.dirname(os.path.abspath(self._path))
        fd, tmp = tempfile.mkstemp(prefix=".eden-results-", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(data)
                f.write("\n")
            os.rename(tmp, self._path)
        except Exception:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
