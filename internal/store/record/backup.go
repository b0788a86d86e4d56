package record

import (
	"strings"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// BackupSortKey is how both stores key a backup within its deployment:
// "<yyyymmdd-hhmmss>#<type>", so that keys sort by the dump's time. Listed
// in descending key order, backups come newest first (two of the same
// second by instance type, descending).
func BackupSortKey(t deploy.InstanceType, name string) string {
	return strings.TrimSuffix(name, ".dump") + "#" + string(t)
}
