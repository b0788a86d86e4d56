package playbook

import (
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// BackupOptions say how dumps leave the database servers and how many
// stay on them.
type BackupOptions struct {
	// Bucket, for deployments reached through SSM (AWS), is the bucket the
	// database servers copy their dumps to (BackupKey keys), with SSE
	// ("AES256", the default, or "aws:kms"). Empty: dumps stay on the
	// servers. Deployments reached over SSH have theirs pulled to the
	// control plane instead.
	Bucket string
	SSE    string
	// Retention is what the servers keep of their dumps; zero means
	// deploy.DefaultRetention.
	Retention deploy.Retention
}

// dayTwoVars adds to v what a db step needs to keep backups (all runs)
// and, on a restore, what it restores:
//
//	eden_backup_keep     {daily, weekly}             AD  the retention of the servers' dumps
//	eden_backup_offsite  {kind, bucket, prefix, sse} AD  where dumps go: kind pull (to the
//	                                                     control plane, over SSH, under the
//	                                                     runner's eden_backup_pull_dir), s3
//	                                                     (bucket, with sse) or none; prefix is
//	                                                     deploy.BackupPrefix of the deployment
//	restore (each instance) {backup, instance, name, size, sha256, key}
//	                                                 AD  on a restore: the backup, the instance
//	                                                     whose dump it is, its file, size,
//	                                                     SHA-256 and off-server key ("" if none)
func dayTwoVars(v *vars, d *deploy.Deployment, r *deploy.Run, step deploy.Step, opt BackupOptions) error {
	if step.Role != deploy.RoleAll && step.Role != deploy.RoleDB {
		return nil
	}
	keep := opt.Retention
	if keep == (deploy.Retention{}) {
		keep = deploy.DefaultRetention
	}
	if err := keep.Validate(); err != nil {
		return err
	}
	km := newMapping()
	km.int("daily", keep.Daily)
	km.int("weekly", keep.Weekly)
	v.root.put("eden_backup_keep", km.node)

	om := newMapping()
	kind, sse := "none", opt.SSE
	switch {
	case d.Target == deploy.TargetSSH:
		kind = "pull"
	case opt.Bucket != "":
		kind = "s3"
	}
	if sse == "" {
		sse = "AES256"
	}
	if sse != "AES256" && sse != "aws:kms" {
		return deploy.Invalid("sse", "playbook: server-side encryption %q is neither AES256 nor aws:kms", sse)
	}
	om.str("kind", kind)
	om.str("bucket", opt.Bucket)
	om.str("prefix", deploy.BackupPrefix(d.ID))
	om.str("sse", sse)
	v.root.put("eden_backup_offsite", om.node)

	if r.Kind != deploy.RunRestore {
		return nil
	}
	src := r.Restore
	if src == nil {
		return deploy.Invalid("restore", "run %s restores no backup", r.ID)
	}
	if _, err := deploy.BackupTime(src.Name); err != nil || !src.Instance.Valid() || len(src.SHA256) != 64 || !hexString(src.SHA256) {
		return deploy.Invalid("restore", "run %s names no valid backup: %+v", r.ID, *src)
	}
	if src.Key != "" && src.Key != deploy.BackupKey(d.ID, src.Instance, src.Name) {
		return deploy.Invalid("restore.key", "run %s takes its backup from %q, not its deployment's key", r.ID, src.Key)
	}
	rm := newMapping()
	rm.str("backup", src.Backup)
	rm.str("instance", string(src.Instance))
	rm.str("name", src.Name)
	rm.put("size", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(src.Size, 10)})
	rm.str("sha256", src.SHA256)
	rm.str("key", src.Key)
	for _, inst := range instanceNodes(v) {
		inst.put("restore", rm.node)
	}
	return nil
}

// instanceNodes returns the mappings of eden_instances.
func instanceNodes(v *vars) []mapping {
	root := v.root.node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "eden_instances" {
			var out []mapping
			for _, n := range root.Content[i+1].Content {
				out = append(out, mapping{n})
			}
			return out
		}
	}
	return nil
}

func hexString(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
