# -*- coding: utf-8 -*-
# Run by Eden Deploy as `web2py.py -S eden -M -R`: make the deployment's
# administrator, or give it the current password. The e-mail address and
# the password come on stdin (one line each), never on the command line.
import sys

email = sys.stdin.readline().rstrip("\n")
password = sys.stdin.readline().rstrip("\n")
if not email or not password:
    raise SystemExit("admin_user.py: an e-mail address and a password are required on stdin")

table = db.auth_user
hashed = table.password.validate(password)[0]
row = db(table.email == email).select(table.id, limitby=(0, 1)).first()
if row:
    row.update_record(password=hashed, registration_key="")
    user_id = row.id
else:
    user_id = table.insert(email=email, first_name="Admin", last_name="", password=hashed, registration_key="")
auth.s3_assign_role(user_id, "ADMIN")
db.commit()
