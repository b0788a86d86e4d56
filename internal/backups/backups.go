// Package backups keeps the records of instances' backups and their copies
// off the database servers: it collects what a step that backs up reports
// (every dump its database server keeps), checks each off-server copy
// against the dump's SHA-256 before the backup counts, mirrors the copies
// where the operator asked, applies the retention to the off-server copies
// and records, lists backups, and finds the backup a restore puts back.
//
// The database server makes the dumps (its nightly cron job, or a run's
// playbook) and copies them off itself: on AWS it uploads them to the
// stack's bucket; locally the playbook pulls them to the control plane's
// data directory over the runner's SSH connection. This package only reads
// those copies.
package backups

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/edendeploy/edendeploy/internal/deploy"
)

// Config holds the service's dependencies.
type Config struct {
	Store deploy.BackupStore // required
	// Copies holds the off-server copies (deploy.CopyOffsite); nil means
	// none are kept, and backups then count without one.
	Copies deploy.BackupCopies
	// Mirror, when set, gets a further copy of each off-server copy
	// (deploy.CopyMirror): an S3-compatible endpoint the operator named.
	Mirror deploy.BackupCopies
	// Retention applies to the off-server copies and records; default
	// deploy.DefaultRetention.
	Retention deploy.Retention
	Now       func() time.Time
	Log       *slog.Logger
}

// Service is the backup use cases. Safe for concurrent use.
type Service struct{ cfg Config }

// New returns a service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("backups: a backup store is required")
	}
	if cfg.Retention == (deploy.Retention{}) {
		cfg.Retention = deploy.DefaultRetention
	}
	if err := cfg.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("backups: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{cfg: cfg}, nil
}

// List returns the deployment's backups, newest first; only those of
// instance t when t is not empty.
func (s *Service) List(ctx context.Context, deploymentID string, t deploy.InstanceType) ([]*deploy.Backup, error) {
	all, err := s.cfg.Store.ListBackups(ctx, deploymentID)
	if err != nil {
		return nil, fmt.Errorf("backups: list %s: %w", deploymentID, err)
	}
	out := []*deploy.Backup{}
	for _, b := range all {
		if t == "" || b.Instance == t {
			out = append(out, b)
		}
	}
	return out, nil
}

// Get returns one backup of the deployment, or NotFound.
func (s *Service) Get(ctx context.Context, deploymentID, id string) (*deploy.Backup, error) {
	dep, _, _, err := deploy.ParseBackupID("backup", id)
	if err != nil {
		return nil, err
	}
	if dep != deploymentID {
		return nil, deploy.NotFound("backup %s not found in deployment %s", id, deploymentID)
	}
	return s.cfg.Store.GetBackup(ctx, deploymentID, id)
}

// RestoreSource finds the backup id to restore into an instance of d:
// Invalid when id is not a backup ID, names another deployment or no
// backup of d; Conflict when no copy of it is left.
func (s *Service) RestoreSource(ctx context.Context, d *deploy.Deployment, id string) (*deploy.RestoreSource, error) {
	dep, _, _, err := deploy.ParseBackupID("backup", id)
	if err != nil {
		return nil, err
	}
	if dep != d.ID {
		return nil, deploy.Invalid("backup", "backup %s belongs to deployment %s, not %s: a restore takes a backup of the same deployment", id, dep, d.ID)
	}
	b, err := s.cfg.Store.GetBackup(ctx, d.ID, id)
	if deploy.IsKind(err, deploy.KindNotFound) {
		return nil, deploy.Invalid("backup", "no backup %s in this deployment: list them with GET /v1/deployments/%s/backups", id, d.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("backups: get %s: %w", id, err)
	}
	if err := deploy.CheckRestoreSource(d, b); err != nil {
		return nil, err
	}
	return deploy.RestoreSourceOf(b), nil
}

// CollectStep records what step i of run r on d reported of the dumps its
// database server keeps (deploy.HostResult.Backups), for the first db
// server of d (the one whose database Eden uses). For each instance
// reported: every dump becomes or updates a record, with its server copy;
// the off-server copy the step made is checked against the dump's SHA-256
// (a backup counts only once it matches) and mirrored; records of dumps
// the server no longer keeps lose their server copy; and the retention
// removes older off-server copies and their records. A step that reports
// nothing changes nothing.
//
// It returns an error naming every dump it could not keep off the server
// (Invalid), or the store's error; the records of the others are kept
// either way.
func (s *Service) CollectStep(ctx context.Context, d *deploy.Deployment, r *deploy.Run, i int, results []deploy.HostResult) error {
	if r.DryRun {
		return nil
	}
	dbs := d.HostsFor(deploy.RoleDB)
	if len(dbs) == 0 {
		return nil
	}
	var reports []deploy.BackupReport
	for _, h := range results {
		if h.Host == dbs[0] {
			reports = h.Backups
		}
	}
	if len(reports) == 0 {
		return nil
	}
	byType := map[deploy.InstanceType][]deploy.BackupReport{}
	var order []deploy.InstanceType
	for _, rep := range reports {
		if _, ok := byType[rep.Instance]; !ok {
			order = append(order, rep.Instance)
		}
		byType[rep.Instance] = append(byType[rep.Instance], rep)
	}
	var problems []error
	for _, t := range order {
		if err := s.collect(ctx, d, r, dbs[0], t, byType[t], &problems); err != nil {
			return err
		}
	}
	return errors.Join(problems...)
}

// collect is CollectStep for the dumps of one instance.
func (s *Service) collect(ctx context.Context, d *deploy.Deployment, r *deploy.Run, host string, t deploy.InstanceType, reports []deploy.BackupReport, problems *[]error) error {
	now := s.cfg.Now().UTC()
	records, err := s.List(ctx, d.ID, t)
	if err != nil {
		return err
	}
	byID := map[string]*deploy.Backup{}
	for _, b := range records {
		byID[b.ID] = b
	}
	onServer := map[string]bool{}
	for _, rep := range reports {
		onServer[deploy.BackupID(d.ID, rep.Instance, rep.Name)] = true
		b, err := s.record(ctx, d, r, host, rep, byID, now)
		if err != nil {
			*problems = append(*problems, err)
			if b == nil {
				continue
			}
		}
		if err := s.cfg.Store.PutBackup(ctx, b); err != nil {
			return fmt.Errorf("backups: keep %s: %w", b.ID, err)
		}
		if _, known := byID[b.ID]; !known {
			records = append(records, b)
			byID[b.ID] = b
		}
	}
	// Dumps the server no longer keeps (its retention, or removed by hand).
	for _, b := range records {
		if onServer[b.ID] || b.Copy(deploy.CopyServer) == nil {
			continue
		}
		b.DropCopy(deploy.CopyServer)
		b.UpdatedAt = now
		if len(b.Copies) == 0 {
			if err := s.cfg.Store.DeleteBackup(ctx, d.ID, b.ID); err != nil {
				return fmt.Errorf("backups: forget %s: %w", b.ID, err)
			}
			continue
		}
		if err := s.cfg.Store.PutBackup(ctx, b); err != nil {
			return fmt.Errorf("backups: keep %s: %w", b.ID, err)
		}
	}
	return s.retain(ctx, d.ID, records, onServer)
}

// record returns the record of the dump rep reports, made or updated: its
// server copy as the server reported it, and its off-server copies
// checked. An error says why the backup is not kept off the server; the
// record is still returned when there is one to keep.
func (s *Service) record(ctx context.Context, d *deploy.Deployment, r *deploy.Run, host string, rep deploy.BackupReport, byID map[string]*deploy.Backup, now time.Time) (*deploy.Backup, error) {
	created, err := deploy.BackupTime(rep.Name)
	if err != nil || !rep.Instance.Valid() || len(rep.SHA256) != 64 || rep.Size <= 0 {
		return nil, deploy.Invalid("backups", "the server reported a dump that is not one: %+v", rep)
	}
	id := deploy.BackupID(d.ID, rep.Instance, rep.Name)
	b := byID[id]
	if b == nil {
		origin := deploy.BackupNightly
		switch {
		case rep.Current && r.Kind == deploy.RunBackup:
			origin = deploy.BackupManual
		case rep.Current && r.Kind == deploy.RunRemove:
			origin = deploy.BackupFinal
		}
		b = &deploy.Backup{ID: id, DeploymentID: d.ID, Instance: rep.Instance, Name: rep.Name, CreatedAt: created,
			Size: rep.Size, SHA256: strings.ToLower(rep.SHA256), Origin: origin, RunID: r.ID}
	} else {
		b = cloneBackup(b)
		if b.SHA256 != strings.ToLower(rep.SHA256) || b.Size != rep.Size {
			return nil, deploy.Invalid("backups", "dump %s on %s is not what was recorded (%d bytes, sha256 %s; now %d bytes, %s): leaving its record as it was",
				rep.Path, host, b.Size, b.SHA256, rep.Size, rep.SHA256)
		}
		if rep.Current && r.Kind == deploy.RunRemove {
			b.Origin = deploy.BackupFinal
		}
	}
	b.UpdatedAt = now
	b.SetCopy(deploy.BackupCopy{Kind: deploy.CopyServer, Location: host + ":" + rep.Path, Host: host, Path: rep.Path, VerifiedAt: now})
	if s.cfg.Copies == nil {
		return b, nil
	}
	key := deploy.BackupKey(d.ID, rep.Instance, rep.Name)
	if c := b.Copy(deploy.CopyOffsite); c == nil || c.Key != key || c.VerifiedAt.IsZero() {
		if rep.Offsite == "" {
			return b, deploy.Invalid("backups", "dump %s on %s was not copied off the server", rep.Path, host)
		}
		if err := s.check(ctx, s.cfg.Copies, key, b); err != nil {
			return b, err
		}
		b.SetCopy(deploy.BackupCopy{Kind: deploy.CopyOffsite, Location: s.cfg.Copies.CopyLocation(key), Key: key, VerifiedAt: now})
	}
	if s.cfg.Mirror != nil && b.Copy(deploy.CopyMirror) == nil {
		if err := s.mirror(ctx, key, b); err != nil {
			return b, err
		}
		b.SetCopy(deploy.BackupCopy{Kind: deploy.CopyMirror, Location: s.cfg.Mirror.CopyLocation(key), Key: key, VerifiedAt: now})
	}
	return b, nil
}

func cloneBackup(b *deploy.Backup) *deploy.Backup {
	c := *b
	c.Copies = append([]deploy.BackupCopy(nil), b.Copies...)
	return &c
}

// check reads the copy under key and compares its size and SHA-256 with
// b's.
func (s *Service) check(ctx context.Context, copies deploy.BackupCopies, key string, b *deploy.Backup) error {
	rc, err := copies.OpenCopy(ctx, key)
	if deploy.IsKind(err, deploy.KindNotFound) {
		return deploy.Invalid("backups", "backup %s: no copy at %s", b.ID, copies.CopyLocation(key))
	}
	if err != nil {
		return fmt.Errorf("backups: read %s: %w", copies.CopyLocation(key), err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		return fmt.Errorf("backups: read %s: %w", copies.CopyLocation(key), err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != b.Size || sum != b.SHA256 {
		return deploy.Invalid("backups", "backup %s: the copy at %s does not match the dump (%d bytes, sha256 %s; the dump: %d bytes, %s)",
			b.ID, copies.CopyLocation(key), n, sum, b.Size, b.SHA256)
	}
	return nil
}

// mirror puts the off-server copy of b to the mirror and checks what the
// mirror then holds.
func (s *Service) mirror(ctx context.Context, key string, b *deploy.Backup) error {
	rc, err := s.cfg.Copies.OpenCopy(ctx, key)
	if err != nil {
		return fmt.Errorf("backups: mirror %s: %w", b.ID, err)
	}
	defer rc.Close()
	body, ok := rc.(io.ReadSeeker)
	if !ok { // not a file: spool it, the upload must be seekable
		f, err := os.CreateTemp("", "eden-backup-*")
		if err != nil {
			return fmt.Errorf("backups: mirror %s: %w", b.ID, err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(f, rc); err != nil {
			return fmt.Errorf("backups: mirror %s: %w", b.ID, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("backups: mirror %s: %w", b.ID, err)
		}
		body = f
	}
	if err := s.cfg.Mirror.PutCopy(ctx, key, body, b.Size); err != nil {
		return fmt.Errorf("backups: mirror %s: %w", b.ID, err)
	}
	return s.check(ctx, s.cfg.Mirror, key, b)
}

// retain applies the retention to an instance's records: a backup it does
// not keep loses its off-server copies and its record, unless its server
// still keeps it (the server's own retention removes it first; the next
// collection then forgets it).
func (s *Service) retain(ctx context.Context, deploymentID string, records []*deploy.Backup, onServer map[string]bool) error {
	times := make([]time.Time, len(records))
	for i, b := range records {
		times[i] = b.CreatedAt
	}
	keep := s.cfg.Retention.Keep(times)
	for i, b := range records {
		if keep[i] || onServer[b.ID] {
			continue
		}
		if err := s.Forget(ctx, b); err != nil {
			return err
		}
		s.cfg.Log.InfoContext(ctx, "backup past its retention removed", "deployment", deploymentID, "backup", b.ID)
	}
	return nil
}

// Forget deletes b's off-server copies, then its record.
func (s *Service) Forget(ctx context.Context, b *deploy.Backup) error {
	for _, c := range b.Copies {
		var copies deploy.BackupCopies
		switch c.Kind {
		case deploy.CopyOffsite:
			copies = s.cfg.Copies
		case deploy.CopyMirror:
			copies = s.cfg.Mirror
		}
		if copies == nil || c.Key == "" {
			continue
		}
		if err := copies.DeleteCopy(ctx, c.Key); err != nil {
			return fmt.Errorf("backups: delete %s: %w", c.Location, err)
		}
	}
	if err := s.cfg.Store.DeleteBackup(ctx, b.DeploymentID, b.ID); err != nil {
		return fmt.Errorf("backups: forget %s: %w", b.ID, err)
	}
	return nil
}

// PrepareStep makes sure a restore step finds the off-server copy where
// its playbook takes it from: when the copy is missing there but the
// mirror has it, it is brought back (and checked) first. Other steps need
// nothing.
func (s *Service) PrepareStep(ctx context.Context, d *deploy.Deployment, r *deploy.Run, i int) error {
	src := r.Restore
	if r.Kind != deploy.RunRestore || src == nil || src.Key == "" || s.cfg.Copies == nil || s.cfg.Mirror == nil {
		return nil
	}
	rc, err := s.cfg.Copies.OpenCopy(ctx, src.Key)
	if err == nil {
		rc.Close()
		return nil
	}
	if !deploy.IsKind(err, deploy.KindNotFound) {
		return fmt.Errorf("backups: look for %s: %w", src.Backup, err)
	}
	b := &deploy.Backup{ID: src.Backup, Size: src.Size, SHA256: src.SHA256}
	mc, err := s.cfg.Mirror.OpenCopy(ctx, src.Key)
	if deploy.IsKind(err, deploy.KindNotFound) {
		return nil // the playbook says there is no copy
	}
	if err != nil {
		return fmt.Errorf("backups: read the mirror of %s: %w", src.Backup, err)
	}
	defer mc.Close()
	f, err := os.CreateTemp("", "eden-backup-*")
	if err != nil {
		return fmt.Errorf("backups: bring back %s: %w", src.Backup, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, mc); err != nil {
		return fmt.Errorf("backups: bring back %s: %w", src.Backup, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backups: bring back %s: %w", src.Backup, err)
	}
	if err := s.cfg.Copies.PutCopy(ctx, src.Key, f, src.Size); err != nil {
		return fmt.Errorf("backups: bring back %s: %w", src.Backup, err)
	}
	return s.check(ctx, s.cfg.Copies, src.Key, b)
}
