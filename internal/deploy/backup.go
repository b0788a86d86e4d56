package deploy

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Backup is one dump of an instance's database (pg_dump, custom format),
// made on the database server by its nightly cron job or by a run (backup,
// or the final backup of a remove), and kept off the server too. Its ID
// names the deployment, the instance and the dump, so a backup is never
// mistaken for one of another deployment.
type Backup struct {
	// ID is BackupID(DeploymentID, Instance, Name).
	ID           string       `json:"id"`
	DeploymentID string       `json:"deployment_id"`
	Instance     InstanceType `json:"instance"`
	// Name is the dump's file name on the server: its UTC time,
	// "20250301-020000.dump".
	Name string `json:"name"`
	// CreatedAt is when the dump was made (read from Name).
	CreatedAt time.Time `json:"created_at"`
	// Size is the dump's size in bytes; SHA256 the hex SHA-256 of its
	// bytes, which every copy must match.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Origin says what made it.
	Origin BackupOrigin `json:"origin"`
	// RunID is the run that made it, or that first found it (a nightly
	// dump).
	RunID string `json:"run_id,omitempty"`
	// Copies says where the backup is: on the server (as last seen) and
	// off it.
	Copies    []BackupCopy `json:"copies"`
	UpdatedAt time.Time    `json:"updated_at"`
}

// BackupOrigin is what made a backup.
type BackupOrigin string

// The origins of a backup.
const (
	BackupNightly BackupOrigin = "nightly" // the database server's cron job
	BackupManual  BackupOrigin = "manual"  // a backup run
	BackupFinal   BackupOrigin = "final"   // the last dump of an instance being removed
)

// CopyKind says where a copy of a backup is.
type CopyKind string

// The kinds of copy.
const (
	// CopyServer is the dump on the database server itself.
	CopyServer CopyKind = "server"
	// CopyOffsite is the copy off the server: the stack's bucket on AWS,
	// the control plane's data directory locally.
	CopyOffsite CopyKind = "offsite"
	// CopyMirror is a further copy on an S3-compatible endpoint the
	// operator named (local control plane).
	CopyMirror CopyKind = "mirror"
)

// BackupCopy is one copy of a backup.
type BackupCopy struct {
	Kind CopyKind `json:"kind"`
	// Location says where it is, for people: "10.0.0.5:/var/backups/eden/prod/20250301-020000.dump",
	// "s3://bucket/backups/...", "/var/lib/edendeploy/backups/...".
	Location string `json:"location"`
	// Host and Path locate a server copy.
	Host string `json:"host,omitempty"`
	Path string `json:"path,omitempty"`
	// Key is the key of an off-server copy in its store (BackupKey).
	Key string `json:"key,omitempty"`
	// VerifiedAt is when its bytes were last found to match the backup's
	// SHA256 (for a server copy: when the server last reported it).
	VerifiedAt time.Time `json:"verified_at,omitzero"`
}

// Copy returns the backup's copy of kind k, or nil.
func (b *Backup) Copy(k CopyKind) *BackupCopy {
	for i := range b.Copies {
		if b.Copies[i].Kind == k {
			return &b.Copies[i]
		}
	}
	return nil
}

// SetCopy adds c, replacing the copy of its kind.
func (b *Backup) SetCopy(c BackupCopy) {
	if old := b.Copy(c.Kind); old != nil {
		*old = c
		return
	}
	b.Copies = append(b.Copies, c)
	sort.SliceStable(b.Copies, func(i, j int) bool { return copyOrder(b.Copies[i].Kind) < copyOrder(b.Copies[j].Kind) })
}

// DropCopy removes the copy of kind k.
func (b *Backup) DropCopy(k CopyKind) {
	out := b.Copies[:0]
	for _, c := range b.Copies {
		if c.Kind != k {
			out = append(out, c)
		}
	}
	b.Copies = out
}

func copyOrder(k CopyKind) int {
	switch k {
	case CopyServer:
		return 0
	case CopyOffsite:
		return 1
	}
	return 2
}

var backupName = regexp.MustCompile(`^([0-9]{8}-[0-9]{6})\.dump$`)

// BackupTime returns the time a dump's name says it was made (UTC), or an
// Invalid error when name is not "<yyyymmdd>-<hhmmss>.dump".
func BackupTime(name string) (time.Time, error) {
	m := backupName.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}, Invalid("name", "%q is not a dump name such as 20250301-020000.dump", name)
	}
	t, err := time.Parse("20060102-150405", m[1])
	if err != nil {
		return time.Time{}, Invalid("name", "%q is not a dump name such as 20250301-020000.dump: %v", name, err)
	}
	return t.UTC(), nil
}

// BackupID is the ID of the dump name of instance t of a deployment:
// "<deployment>.<type>.<yyyymmdd-hhmmss>".
func BackupID(deploymentID string, t InstanceType, name string) string {
	return deploymentID + "." + string(t) + "." + strings.TrimSuffix(name, ".dump")
}

// ParseBackupID splits a backup ID into its deployment, instance and dump
// name. An ID that is not one is Invalid, with field.
func ParseBackupID(field, id string) (deploymentID string, t InstanceType, name string, err error) {
	parts := strings.Split(id, ".")
	if len(parts) != 3 || !SafeID(parts[0]) || !InstanceType(parts[1]).Valid() {
		return "", "", "", Invalid(field, "%q is not a backup ID such as d-...%s", id, ".prod.20250301-020000")
	}
	name = parts[2] + ".dump"
	if _, err := BackupTime(name); err != nil {
		return "", "", "", Invalid(field, "%q is not a backup ID such as d-...%s", id, ".prod.20250301-020000")
	}
	return parts[0], InstanceType(parts[1]), name, nil
}

// BackupKey is where the off-server copy of a dump is kept, in the stack's
// bucket (AWS) or under the control plane's data directory (locally):
// backups/<deployment>/<type>/<name>. Backups live apart from
// deployments/<id>/, whose bundles and logs expire.
func BackupKey(deploymentID string, t InstanceType, name string) string {
	return BackupPrefix(deploymentID) + string(t) + "/" + name
}

// BackupPrefix is the key prefix of every off-server copy of a deployment.
func BackupPrefix(deploymentID string) string { return "backups/" + deploymentID + "/" }

// BackupReport is what a step reports of one dump on its database server
// (HostResult.Backups): every dump of the step's instances that the server
// keeps, after its own retention.
type BackupReport struct {
	Instance InstanceType `json:"instance"`
	Name     string       `json:"name"`
	// Path is the dump on the server.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Current is true for the dump that holds what the database held when
	// the step ran: the one it made, or the newest one when the database
	// had not changed since.
	Current bool `json:"current,omitempty"`
	// Offsite says where the step copied the dump off the server, having
	// checked the copy: "pulled" (to the control plane, over the runner's
	// SSH connection) or the s3:// URL it uploaded to; empty when it did
	// not copy it.
	Offsite string `json:"offsite,omitempty"`
}

// RestoreSource is the backup a restore run puts back, as the control
// plane found it when the run was asked for.
type RestoreSource struct {
	Backup   string       `json:"backup"`
	Instance InstanceType `json:"instance"`
	Name     string       `json:"name"`
	Size     int64        `json:"size"`
	SHA256   string       `json:"sha256"`
	// Key is the off-server copy's key, or "" when there is none.
	Key string `json:"key,omitempty"`
}

// RestoreSourceOf returns what a restore run needs of b.
func RestoreSourceOf(b *Backup) *RestoreSource {
	src := &RestoreSource{Backup: b.ID, Instance: b.Instance, Name: b.Name, Size: b.Size, SHA256: b.SHA256}
	if c := b.Copy(CopyOffsite); c != nil {
		src.Key = c.Key
	}
	return src
}

// CheckRestoreSource checks that b may be restored into instance t of d:
// it is a backup of d with a copy to restore from.
func CheckRestoreSource(d *Deployment, b *Backup) error {
	if b.DeploymentID != d.ID {
		return Invalid("backup", "backup %s belongs to deployment %s, not %s: a restore takes a backup of the same deployment", b.ID, b.DeploymentID, d.ID)
	}
	if b.Copy(CopyServer) == nil && b.Copy(CopyOffsite) == nil {
		return Conflict("backup", "backup %s has no copy left to restore from", b.ID)
	}
	return nil
}

// BackupStore keeps the records of a deployment's backups. The records of
// a deployment go when it is deleted (DeleteDeployment).
type BackupStore interface {
	// PutBackup stores b, replacing the record with its ID. b.ID must be
	// BackupID of its fields (Invalid otherwise).
	PutBackup(ctx context.Context, b *Backup) error
	// GetBackup returns the record, or NotFound.
	GetBackup(ctx context.Context, deploymentID, id string) (*Backup, error)
	// ListBackups returns every backup record of the deployment, newest
	// first (by CreatedAt, then instance type). A deployment keeps few
	// backups (Retention), so the list is whole.
	ListBackups(ctx context.Context, deploymentID string) ([]*Backup, error)
	// DeleteBackup removes the record; none is not an error.
	DeleteBackup(ctx context.Context, deploymentID, id string) error
}

// CheckBackup checks that b's ID and name agree, so that stores can key it
// by time.
func CheckBackup(b *Backup) error {
	dep, t, name, err := ParseBackupID("id", b.ID)
	if err != nil {
		return err
	}
	if dep != b.DeploymentID || t != b.Instance || name != b.Name {
		return Invalid("id", "backup ID %s does not name deployment %s, instance %s and dump %s", b.ID, b.DeploymentID, b.Instance, b.Name)
	}
	return nil
}

// Retention is how many backups of an instance are kept, on the database
// server and off it: the newest of each of the Daily most recent days that
// have one, the newest of each of the Weekly most recent ISO weeks that
// have one, and always the newest of all.
type Retention struct {
	Daily  int `json:"daily"`
	Weekly int `json:"weekly"`
}

// DefaultRetention keeps a week of daily and a month of weekly backups.
var DefaultRetention = Retention{Daily: 7, Weekly: 4}

// Validate checks the numbers: 1 to 366 daily, 0 to 260 weekly.
func (r Retention) Validate() error {
	if r.Daily < 1 || r.Daily > 366 {
		return Invalid("retention.daily", "must be 1 to 366, not %d", r.Daily)
	}
	if r.Weekly < 0 || r.Weekly > 260 {
		return Invalid("retention.weekly", "must be 0 to 260, not %d", r.Weekly)
	}
	return nil
}

// Keep returns, for each time of times, whether the retention keeps the
// backup made then. Days and weeks are UTC (dump names are UTC times);
// weeks are ISO weeks. The database server's backup script keeps the
// same (roles/postgresql/templates/eden-backup.sh.j2).
func (r Retention) Keep(times []time.Time) []bool {
	order := make([]int, len(times))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return times[order[a]].After(times[order[b]]) })
	keep := make([]bool, len(times))
	days, weeks := map[string]bool{}, map[string]bool{}
	for n, i := range order {
		t := times[i].UTC()
		day := t.Format("20060102")
		y, w := t.ISOWeek()
		week := fmt.Sprintf("%d-%02d", y, w)
		if n == 0 {
			keep[i] = true
		}
		if !days[day] && len(days) < r.Daily {
			days[day] = true
			keep[i] = true
		}
		if !weeks[week] && len(weeks) < r.Weekly {
			weeks[week] = true
			keep[i] = true
		}
	}
	return keep
}

// BackupCopies keeps copies of backups off the database servers, by
// BackupKey: a directory of the local control plane (blob/fs) or an S3
// bucket (blob/s3). Dumps can be large: they are streamed, never held in
// memory. Implementations are safe for concurrent use.
type BackupCopies interface {
	// PutCopy stores size bytes read from body under key, replacing what
	// was there; a reader of the key sees the old copy or the whole new one.
	PutCopy(ctx context.Context, key string, body io.ReadSeeker, size int64) error
	// OpenCopy returns the copy under key for reading, or NotFound. The
	// caller closes it.
	OpenCopy(ctx context.Context, key string) (io.ReadCloser, error)
	// DeleteCopy removes the copy under key; none is not an error.
	DeleteCopy(ctx context.Context, key string) error
	// CopyLocation says where the copy under key is, for people: a path
	// or an s3:// URL.
	CopyLocation(key string) string
}

var retentionText = regexp.MustCompile(`^([0-9]{1,3})d([0-9]{1,3})w$`)

// ParseRetention reads a retention written as String writes it: "7d4w"
// keeps 7 daily and 4 weekly backups.
func ParseRetention(s string) (Retention, error) {
	m := retentionText.FindStringSubmatch(s)
	if m == nil {
		return Retention{}, Invalid("retention", "%q is not a retention such as 7d4w (7 daily and 4 weekly backups)", s)
	}
	var r Retention
	fmt.Sscan(m[1], &r.Daily)
	fmt.Sscan(m[2], &r.Weekly)
	return r, r.Validate()
}

// String writes r as "<daily>d<weekly>w".
func (r Retention) String() string { return fmt.Sprintf("%dd%dw", r.Daily, r.Weekly) }
