// Package playbook renders one step of a run into a bundle: the files
// ansible-playbook needs on the control host (SSH runner) or on the server
// itself (SSM, `ansible-playbook -i localhost, -c local`), the same bundle
// either way. Secrets are never in a bundle.
//
// # Bundle layout
//
//	ansible.cfg          roles_path and pipelining (from infra/ansible)
//	<playbook>.yml       the step's playbook: deploy, clean, pull, restart,
//	                     backup, reconfigure, restore, remove, maintenance-on
//	                     or maintenance-off (from infra/ansible)
//	roles/<role>/...     the roles that playbook applies on the step's tier
//	library/eden_files.py  Eden Deploy's module that the roles write files
//	                     with, several per call (from infra/ansible)
//	callback_plugins/eden_results.py  the per-host results callback
//	vars/eden.yml        every value of the step: the only carrier of user values
//	secrets.json         JSON list of the secret names the step reads at run
//	                     time, e.g. ["db-password","hmac-key"] (deploy.Secret*)
//	bundle.json          Meta: deployment, run, step, playbook, roles, hash
//
// Run it from the bundle's directory:
//
//	ansible-playbook -i <hosts> <playbook>.yml -e eden_secrets_dir=<dir>
//
// eden_secrets_dir (our own path, never a user value) is a private
// directory holding one file per name of secrets.json; roles read them
// with lookup('file', eden_secrets_dir ~ '/db-password'), which runs on
// the controller: the host itself under SSM. Test roles also take
// eden_record_dir with -e. Nothing else may travel as an extra var: -e
// values ARE evaluated by Jinja.
//
// # Escaping
//
// vars/eden.yml is a yaml.v3 node tree, never a text template. Every
// string is tagged !unsafe (Ansible never evaluates it, so "{{ ... }}"
// arrives verbatim) and double-quoted (yaml.v3 escapes every control and
// line-break character, so it reads back exactly). Settings reach
// 000_config.py as finished lines ("settings.base.public_url = '...'")
// whose values are Python literals made by PyLiteral, written verbatim by
// the eden role's template. Hosts and ports reaching nginx, uWSGI and
// pg_hba are checked again with deploy.ValidateHost here.
//
// # Vars contract
//
// Every variable of vars/eden.yml; "str" is an !unsafe string. Steps: A
// (all), D (db), E (eden), W (webserver).
//
//	eden_deployment_id     str        ADEW  deployment ID
//	eden_deployment_name   str        ADEW  deployment name (user value)
//	eden_run_id            str        ADEW  run ID
//	eden_run_kind          str        ADEW  deploy, add-instance, clean, pull, restart,
//	                                        backup, reconfigure, scale-out, scale-in
//	eden_step_name         str        ADEW  all, db, eden, webserver, eden-new, webserver-new
//	eden_step_role         str        ADEW  all | db | eden | webserver: which roles apply
//	eden_all_in_one        bool       ADEW  one server plays every role
//	eden_db_listen         str        AD    PostgreSQL listen_addresses: localhost (all) or *
//	eden_db_clients        [str]      AD    pg_hba addresses of the eden hosts (a/32, v6/128
//	                                        or a DNS name); empty on all-in-one
//	eden_web2py_repo       {url,branch} AE  web2py checkout (user values)
//	eden_eden_repo         {url,branch} AE  Eden checkout (user values)
//	eden_template          str        AE    Eden template (user value)
//	eden_prepopulate       [str]      AE    prepopulate options (user values)
//	eden_country           str        AE    ISO country code or ""
//	eden_admin_email       str        AE    the administrator's e-mail (user value)
//	eden_sender_email      str        AE    mail sender (user value)
//	eden_db_host           str        AE    database host: localhost (all) or the first db server
//	eden_db_port           int        AE    5432
//	eden_static_local      bool       AW    nginx serves /eden/static from disk (all-in-one);
//	                                        otherwise uWSGI's static-map serves it
//	eden_instances         [instance] ADEW  the run's instance, or for scale-out and
//	                                        scale-in every deployed instance
//
// Each instance:
//
//	type           str    ADEW  prod | demo | test | setup
//	home           str    ADEW  /home/web2py (prod, linked from /home/prod) or /home/<type>
//	db_name        str    ADEW  sahana (prod) or sahana-<type>
//	db_user        str    ADEW  same as db_name
//	first_run      bool   ADEW  deploy, add-instance and clean run Eden's first run
//	copy_from      str    ADEW  database a new or cleaned test instance is copied from
//	                            (prod's, when prod is deployed), or ""
//	backup_minute  int    AD    minute past 2am of the nightly backup
//	url            str    AE    the instance URL
//	settings       map    AE    the instance's settings, key to value (user values)
//	config_pre     [str]  AE    000_config.py lines before settings.import_template():
//	                            template and database (the password and HMAC key
//	                            come from the secrets at run time)
//	config_post    [str]  AE    000_config.py lines after it: every other setting
//	uwsgi_socket   str    AE    127.0.0.1:<port> (all), 0.0.0.0:<port> or [::]:<port>
//	uwsgi_workers  int    AE    4 for prod, 2 otherwise
//	server_name    str    AW    nginx server_name: the URL's host (IPv6 bracketed)
//	listen_port    int    AW    nginx listen port: the URL's port, or 80
//	listen_ipv6    bool   AW    also listen on [::]
//	upstreams      [str]  AW    host:port of every eden host's uWSGI (IPv6 bracketed)
//
// The db steps also get eden_backup_keep and eden_backup_offsite (how many
// dumps a server keeps, where it copies them), and on a restore each
// instance its restore: see dayTwoVars in daytwo.go. Steps that pull dumps
// to the control plane take eden_backup_pull_dir with -e, the SSH runner's
// own path (localplane.PullDirVar).
//
// Playbooks also set eden_playbook (deploy, clean, ...) as a play var.
package playbook
