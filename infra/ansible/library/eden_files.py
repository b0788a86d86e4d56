#!/usr/bin/python3
# -*- coding: utf-8 -*-
# Eden Deploy's own module: puts several files, directories and links in
# place in one call. A role's static files are a handful of small files;
# ansible.builtin.copy and template spend two remote calls on each (a stat,
# then the file module), which made most of a second deploy's time. The
# content is rendered on the controller (lookup('template') or
# lookup('file')), so this module only compares and writes. A task writing
# a file that holds secrets sets no_log: true, which keeps its arguments
# out of the output and out of the host's logs.

DOCUMENTATION = r"""
module: eden_files
short_description: Put files, directories and links in place, several per call
description:
  - Each entry of I(files) is made to match: a regular file with the given
    content (written atomically, through a temporary file and a rename),
    a directory, a symbolic link, or nothing. Entries are applied in order.
  - The result's C(changed) is true when any entry changed; C(changed_paths)
    lists them. With --diff, C(diff) shows each change, content included
    unless the entry's I(diff) is false.
options:
  files:
    description: What to put in place, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      path: {description: Absolute path., type: path, required: true}
      state:
        description: What path must be.
        type: str
        choices: [file, directory, link, absent]
        default: file
      content:
        description: A file's content (state file). For a file holding secrets, set no_log on the task.
        type: str
      diff:
        description: Show the content in the diff of a changed file (with --diff).
        type: bool
        default: true
      remote_src:
        description: Take a file's content from this file on the host (state file).
        type: path
      force:
        description: Replace a file's content when it differs; false writes it only when the file is missing.
        type: bool
        default: true
      src: {description: A link's target (state link)., type: str}
      owner: {description: Owner of a file or directory., type: str}
      group: {description: Group of a file or directory., type: str}
      mode: {description: Octal mode of a file or directory, such as "0644"., type: str}
"""

import grp
import os
import pwd
import shutil
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule


class Failure(Exception):
    """One entry cannot be put in place; the message says why."""


def lookup_ids(entry):
    uid = gid = -1
    if entry.get("owner"):
        try:
            uid = pwd.getpwnam(entry["owner"]).pw_uid
        except KeyError:
            raise Failure("%s: no user %s" % (entry["path"], entry["owner"]))
    if entry.get("group"):
        try:
            gid = grp.getgrnam(entry["group"]).gr_gid
        except KeyError:
            raise Failure("%s: no group %s" % (entry["path"], entry["group"]))
    return uid, gid


def parse_mode(entry):
    if not entry.get("mode"):
        return None
    try:
        return int(entry["mode"], 8)
    except ValueError:
        raise Failure("%s: mode %r is not octal" % (entry["path"], entry["mode"]))


def user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def change(path, before, after):
    """A diff as Ansible shows it."""
    return {"before_header": path, "after_header": path, "before": before, "after": after}


def fix_attributes(path, entry, check):
    """Owner, group and mode of an existing path: a diff when one changed,
    else None."""
    uid, gid = lookup_ids(entry)
    mode = parse_mode(entry)
    st = os.lstat(path)
    before, after = {}, {}
    if (uid != -1 and st.st_uid != uid) or (gid != -1 and st.st_gid != gid):
        before["owner"], before["group"] = user_name(st.st_uid), group_name(st.st_gid)
        after["owner"] = entry.get("owner") or before["owner"]
        after["group"] = entry.get("group") or before["group"]
        if not check:
            os.chown(path, uid, gid)
    if mode is not None and stat.S_IMODE(st.st_mode) != mode:
        before["mode"], after["mode"] = "%04o" % stat.S_IMODE(st.st_mode), "%04o" % mode
        if not check:
            os.chmod(path, mode)
    return change(path, before, after) if after else None


def wanted_content(entry, check):
    """The file's content; None in check mode when remote_src is not there
    yet (a dry run of a first deploy has not checked it out)."""
    if entry.get("remote_src"):
        if check and not os.path.exists(entry["remote_src"]):
            return None
        try:
            with open(entry["remote_src"], "rb") as f:
                return f.read()
        except OSError as e:
            raise Failure("%s: read %s: %s" % (entry["path"], entry["remote_src"], e.strerror))
    if entry.get("content") is None:
        raise Failure("%s: a file needs content or remote_src" % entry["path"])
    return entry["content"].encode("utf-8")


def shown(entry, data):
    if not entry["diff"]:
        return "(content not shown)\n"
    return data.decode("utf-8", "replace")


def put_file(entry, check):
    path = entry["path"]
    want = wanted_content(entry, check)
    if want is None:
        return change(path, "", "(a copy of %s, which is not there yet)\n" % entry["remote_src"])
    have = None
    if os.path.lexists(path):
        if os.path.islink(path) or not os.path.isfile(path):
            raise Failure("%s: exists and is not a regular file" % path)
        if not entry["force"]:
            return fix_attributes(path, entry, check)
        with open(path, "rb") as f:
            have = f.read()
        if have == want:
            return fix_attributes(path, entry, check)
    diff = change(path, shown(entry, have) if have is not None else "", shown(entry, want))
    if check:
        return diff
    uid, gid = lookup_ids(entry)
    mode = parse_mode(entry)
    if mode is None:
        mode = stat.S_IMODE(os.stat(path).st_mode) if have is not None else 0o644
    fd, tmp = tempfile.mkstemp(prefix=".eden_files.", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(want)
            f.flush()
            os.fchown(f.fileno(), uid, gid)
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return diff


def put_directory(entry, check):
    path = entry["path"]
    if os.path.lexists(path):
        if os.path.islink(path) or not os.path.isdir(path):
            raise Failure("%s: exists and is not a directory" % path)
        return fix_attributes(path, entry, check)
    if not check:
        os.makedirs(path)
        fix_attributes(path, entry, check)
    return change(path, {"state": "absent"}, {"state": "directory"})


def put_link(entry, check):
    path, src = entry["path"], entry.get("src")
    if not src:
        raise Failure("%s: a link needs src" % path)
    before = {"state": "absent"}
    if os.path.islink(path):
        if os.readlink(path) == src:
            return None
        before = {"state": "link", "src": os.readlink(path)}
    elif os.path.isdir(path):
        raise Failure("%s: is a directory, not a link" % path)
    elif os.path.lexists(path):
        before = {"state": "file"}
    if not check:
        tmp = os.path.join(os.path.dirname(path), ".eden_files.%d.%s" % (os.getpid(), os.path.basename(path)))
        os.symlink(src, tmp)
        os.rename(tmp, path)
    return change(path, before, {"state": "link", "src": src})


def put_absent(entry, check):
    path = entry["path"]
    if not os.path.lexists(path):
        return None
    isdir = os.path.isdir(path) and not os.path.islink(path)
    before = {"state": "directory" if isdir else "link" if os.path.islink(path) else "file"}
    if not check:
        if isdir:
            shutil.rmtree(path)
        else:
            os.unlink(path)
    return change(path, before, {"state": "absent"})


PUT = {"file": put_file, "directory": put_directory, "link": put_link, "absent": put_absent}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    path=dict(type="path", required=True),
                    state=dict(type="str", default="file", choices=sorted(PUT)),
                    content=dict(type="str"),
                    diff=dict(type="bool", default=True),
                    remote_src=dict(type="path"),
                    force=dict(type="bool", default=True),
                    src=dict(type="str"),
                    owner=dict(type="str"),
                    group=dict(type="str"),
                    mode=dict(type="str"),
                ),
            )
        ),
        supports_check_mode=True,
    )
    changed, diffs = [], []

    def result(**kwargs):
        out = dict(changed=bool(changed), changed_paths=changed, **kwargs)
        if module._diff:
            out["diff"] = diffs
        return out

    for entry in module.params["files"]:
        try:
            diff = PUT[entry["state"]](entry, module.check_mode)
        except Failure as e:
            module.fail_json(**result(msg=str(e)))
        except OSError as e:
            module.fail_json(**result(msg="%s: %s" % (entry["path"], e)))
        if diff is not None:
            changed.append(entry["path"])
            diffs.append(diff)
    module.exit_json(**result())


if __name__ == "__main__":
    main()
