# -*- coding: utf-8 -*-
# Run by Eden Deploy through guard.py: make the deployment's administrator
# as Eden makes users, or give it the current password. The e-mail address
# and the password come on stdin (one line each), never on the command line.
# It prints "created", "updated" or "unchanged".
#
# As Eden's own user import does: the e-mail address lowercased (Eden
# lowercases the login, so a capital could never log in), the password
# checked and hashed by the table's own validator (a password it refuses is
# an error, never stored as typed), the account approved
# (auth.s3_approve_user: the Authenticated role, a person record linked to
# the user), and the ADMIN role.
import sys

from gluon import current

email = sys.stdin.readline().rstrip("\n").strip().lower()
password = sys.stdin.readline().rstrip("\n")
if not email or not password:
    raise SystemExit("admin_user.py: an e-mail address and a password are required on stdin")

table = db.auth_user
hashed, error = table.password.validate(password)
if error:
    raise SystemExit("admin_user.py: Eden refuses the administrator's password: %s" % error)

# A bulk import, as Eden's prepopulate does it: no welcome e-mail.
current.response.s3.bulk = True
user = db(table.email == email).select(limitby=(0, 1)).first()
outcome = "unchanged"
if user is None:
    user_id = table.insert(email=email, first_name="Admin", last_name="", password=hashed, registration_key="")
    user = table[user_id]
    outcome = "created"
else:
    changes = {}
    if not table.password.validate(password)[0] == user.password:
        changes["password"] = hashed
    if user.registration_key:
        changes["registration_key"] = ""
    if changes:
        user.update_record(**changes)
        outcome = "updated"

gtable = db.auth_group
mtable = db.auth_membership
is_admin = db((mtable.user_id == user.id) & (mtable.group_id == gtable.id) & (gtable.uuid == "ADMIN") & (mtable.deleted == False)).count()
ptable = s3db.pr_person_user
if not db(ptable.user_id == user.id).count():
    # Approve as Eden does: the Authenticated role, a person record.
    auth.s3_approve_user(user)
    outcome = "updated" if outcome == "unchanged" else outcome
if not is_admin:
    auth.s3_assign_role(user.id, "ADMIN")
    outcome = "updated" if outcome == "unchanged" else outcome
db.commit()

if not db(ptable.user_id == user.id).count():
    raise SystemExit("admin_user.py: Eden made no person record for %s" % email)
print(outcome)
