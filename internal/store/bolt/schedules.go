package bolt

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

// Schedules, fires, webhooks and deliveries (deploy.ScheduleStore,
// deploy.WebhookStore), each in one flat bucket whose keys start with the
// deployment ID, so that a deployment's items are one prefix and every
// deployment's schedules one bucket (the local scheduler lists them all):
//
//	store.schedules   <dep> 0 <schedule>            → schedule JSON
//	store.fires       <dep> 0 <schedule> 0 <FireKey> → fire JSON
//	store.webhooks    <dep> 0 <webhook>             → webhook JSON
//	store.deliveries  <dep> 0 <webhook> 0 <delivery> → delivery JSON
//
// A schedule keeps its latest record.KeepPerParent fires and a webhook its
// latest record.KeepPerParent deliveries: each new one removes the oldest
// beyond that, in the same transaction.

var (
	_ deploy.ScheduleStore = (*Store)(nil)
	_ deploy.WebhookStore  = (*Store)(nil)
)

var (
	bSchedules  = []byte("store.schedules")
	bFires      = []byte("store.fires")
	bWebhooks   = []byte("store.webhooks")
	bDeliveries = []byte("store.deliveries")

	notifyBuckets = [][]byte{bSchedules, bFires, bWebhooks, bDeliveries}
)

func joinKey(parts ...string) []byte { return []byte(strings.Join(parts, "\x00")) }

func prefixKey(parts ...string) []byte { return append(joinKey(parts...), 0) }

func checkIDs(ids map[string]string) error {
	for field, id := range ids {
		if err := checkID(field, id); err != nil {
			return err
		}
	}
	return nil
}

// putVersioned stores v (whose version is *ver) under k: a new record when
// *ver is 0 (Conflict if k exists), else a replacement of the stored
// version *ver (Conflict if stale, NotFound if missing). On success *ver is
// the stored version.
func putVersioned(tx *bbolt.Tx, bucket, k []byte, what string, ver *int, v any, storedVer func([]byte) (int, error)) error {
	b := tx.Bucket(bucket)
	old := b.Get(k)
	want := *ver
	switch {
	case want == 0 && old != nil:
		return deploy.Conflict("id", "%s already exists", what)
	case want > 0 && old == nil:
		return deploy.NotFound("%s not found", what)
	case want > 0:
		got, err := storedVer(old)
		if err != nil {
			return err
		}
		if got != want {
			return deploy.Conflict("version", "%s changed: stored version %d, yours %d", what, got, want)
		}
	}
	*ver = want + 1
	enc, err := record.EncodeJSON(what, v)
	if err != nil {
		*ver = want
		return err
	}
	if err := b.Put(k, enc); err != nil {
		*ver = want
		return err
	}
	return nil
}

func versionOf(what string) func([]byte) (int, error) {
	return func(b []byte) (int, error) {
		var v struct {
			Version int `json:"version"`
		}
		err := record.DecodeJSON(what, b, &v)
		return v.Version, err
	}
}

// pageUnder visits the keys under prefix that come after after in the
// order asked (all when after is ""): smallest first, or greatest first
// when desc. It stops once take has taken limit of them and returns the
// position to continue from when more remain.
func pageUnder(c *bbolt.Cursor, prefix []byte, after string, limit int, desc bool, take func(k, v []byte) error) (string, error) {
	var k, v []byte
	step := c.Next
	switch {
	case desc:
		step = c.Prev
		start := []byte(after)
		if after == "" {
			// The greatest key under prefix is the last before prefix+0xff.
			start = append(append([]byte(nil), prefix...), 0xff)
		}
		k, v = seekBefore(c, start)
	case after == "":
		k, v = c.Seek(prefix)
	default:
		if k, v = c.Seek([]byte(after)); k != nil && bytes.Equal(k, []byte(after)) {
			k, v = c.Next()
		}
	}
	n := 0
	var last []byte
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = step() {
		if n == limit {
			return string(last), nil
		}
		if err := take(k, v); err != nil {
			return "", err
		}
		n++
		last = append(last[:0], k...)
	}
	return "", nil
}

// decodeCursor reads a cursor of listing list and scope, and checks that
// its position lies under prefix.
func decodeCursor(p deploy.Page, list, scope string, prefix []byte) (string, error) {
	if p.Cursor == "" {
		return "", nil
	}
	after, err := record.DecodeCursor(p.Cursor, list, scope)
	if err == nil && !bytes.HasPrefix([]byte(after), prefix) {
		err = deploy.Invalid("cursor", "not a cursor of this listing: bad position")
	}
	return after, err
}

// prune deletes the oldest keys under prefix beyond keep.
func prune(b *bbolt.Bucket, prefix []byte, keep int) error {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, append([]byte(nil), k...))
	}
	for i := 0; i < len(keys)-keep; i++ {
		if err := b.Delete(keys[i]); err != nil {
			return err
		}
	}
	return nil
}

func deletePrefix(b *bbolt.Bucket, prefix []byte) error {
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// getJSON reads the record at k of bucket into a new T, or returns
// NotFound naming what.
func getJSON[T any](s *Store, bucket, k []byte, what string) (*T, error) {
	var v T
	err := s.view("get "+what, func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket).Get(k)
		if b == nil {
			return deploy.NotFound("%s not found", what)
		}
		return record.DecodeJSON(what, b, &v)
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// listJSON reads one page of the records under prefix of bucket, in key
// order (descending when desc), for the listing list of scope.
func listJSON[T any](s *Store, op string, bucket, prefix []byte, list, scope string, desc bool, p deploy.Page) ([]*T, string, error) {
	limit, err := record.Limit(p)
	if err != nil {
		return nil, "", fmt.Errorf("bolt: %s: %w", op, err)
	}
	after, err := decodeCursor(p, list, scope, prefix)
	if err != nil {
		return nil, "", fmt.Errorf("bolt: %s: %w", op, err)
	}
	var out []*T
	var next string
	err = s.view(op, func(tx *bbolt.Tx) error {
		last, err := pageUnder(tx.Bucket(bucket).Cursor(), prefix, after, limit, desc, func(k, b []byte) error {
			var v T
			if err := record.DecodeJSON(list, b, &v); err != nil {
				return err
			}
			out = append(out, &v)
			return nil
		})
		if last != "" {
			next = record.EncodeCursor(list, scope, last)
		}
		return err
	})
	return out, next, err
}

// --- schedules ---

// PutSchedule implements deploy.ScheduleStore.
func (s *Store) PutSchedule(ctx context.Context, sc *deploy.Schedule) error {
	if err := checkIDs(map[string]string{"deployment_id": sc.DeploymentID, "id": sc.ID}); err != nil {
		return fmt.Errorf("bolt: put schedule: %w", err)
	}
	ver := sc.Version
	cp := *sc
	err := s.update("put schedule "+sc.ID, func(tx *bbolt.Tx) error {
		cp.Version = ver + 1
		v := ver
		if err := putVersioned(tx, bSchedules, joinKey(sc.DeploymentID, sc.ID), "schedule "+sc.ID, &v, &cp, versionOf("schedule")); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	sc.Version = ver + 1
	return nil
}

// GetSchedule implements deploy.ScheduleStore.
func (s *Store) GetSchedule(ctx context.Context, deploymentID, id string) (*deploy.Schedule, error) {
	return getJSON[deploy.Schedule](s, bSchedules, joinKey(deploymentID, id), "schedule "+id)
}

// ListSchedules implements deploy.ScheduleStore.
func (s *Store) ListSchedules(ctx context.Context, deploymentID string, p deploy.Page) ([]*deploy.Schedule, string, error) {
	var prefix []byte
	if deploymentID != "" {
		prefix = prefixKey(deploymentID)
	}
	return listJSON[deploy.Schedule](s, "list schedules of "+deploymentID, bSchedules, prefix, record.ListSchedules, deploymentID, false, p)
}

// DeleteSchedule implements deploy.ScheduleStore.
func (s *Store) DeleteSchedule(ctx context.Context, deploymentID, id string) error {
	return s.deleteWithChildren("schedule", bSchedules, bFires, deploymentID, id)
}

// --- fires ---

// CreateFire implements deploy.ScheduleStore.
func (s *Store) CreateFire(ctx context.Context, f *deploy.Fire) error {
	if err := checkIDs(map[string]string{"deployment_id": f.DeploymentID, "schedule_id": f.ScheduleID}); err != nil {
		return fmt.Errorf("bolt: create fire: %w", err)
	}
	key := deploy.FireKey(f.Slot)
	cp := *f
	cp.Version = 1
	err := s.update("create fire "+f.ScheduleID+"/"+key, func(tx *bbolt.Tx) error {
		v := 0
		if err := putVersioned(tx, bFires, joinKey(f.DeploymentID, f.ScheduleID, key), "fire of slot "+f.Slot.UTC().Format("2006-01-02T15:04:05Z"), &v, &cp, versionOf("fire")); err != nil {
			return err
		}
		return prune(tx.Bucket(bFires), prefixKey(f.DeploymentID, f.ScheduleID), record.KeepPerParent)
	})
	if err != nil {
		return err
	}
	f.Version = 1
	return nil
}

// UpdateFire implements deploy.ScheduleStore.
func (s *Store) UpdateFire(ctx context.Context, f *deploy.Fire) error {
	key := deploy.FireKey(f.Slot)
	ver := f.Version
	if ver <= 0 {
		return fmt.Errorf("bolt: update fire: %w", deploy.Invalid("version", "an update names the version it read"))
	}
	cp := *f
	cp.Version = ver + 1
	err := s.update("update fire "+f.ScheduleID+"/"+key, func(tx *bbolt.Tx) error {
		v := ver
		return putVersioned(tx, bFires, joinKey(f.DeploymentID, f.ScheduleID, key), "fire "+f.ScheduleID+"/"+key, &v, &cp, versionOf("fire"))
	})
	if err != nil {
		return err
	}
	f.Version = ver + 1
	return nil
}

// GetFire implements deploy.ScheduleStore.
func (s *Store) GetFire(ctx context.Context, deploymentID, scheduleID, key string) (*deploy.Fire, error) {
	return getJSON[deploy.Fire](s, bFires, joinKey(deploymentID, scheduleID, key), "fire "+key+" of schedule "+scheduleID)
}

// ListFires implements deploy.ScheduleStore.
func (s *Store) ListFires(ctx context.Context, deploymentID, scheduleID string, p deploy.Page) ([]*deploy.Fire, string, error) {
	return listJSON[deploy.Fire](s, "list fires of "+scheduleID, bFires, prefixKey(deploymentID, scheduleID),
		record.ListFires, deploymentID+"/"+scheduleID, true, p)
}

// --- webhooks ---

// CreateWebhook implements deploy.WebhookStore.
func (s *Store) CreateWebhook(ctx context.Context, w *deploy.Webhook) error {
	if err := checkIDs(map[string]string{"deployment_id": w.DeploymentID, "id": w.ID}); err != nil {
		return fmt.Errorf("bolt: create webhook: %w", err)
	}
	cp := *w
	cp.Version = 1
	err := s.update("create webhook "+w.ID, func(tx *bbolt.Tx) error {
		v := 0
		return putVersioned(tx, bWebhooks, joinKey(w.DeploymentID, w.ID), "webhook "+w.ID, &v, &cp, versionOf("webhook"))
	})
	if err != nil {
		return err
	}
	w.Version = 1
	return nil
}

// GetWebhook implements deploy.WebhookStore.
func (s *Store) GetWebhook(ctx context.Context, deploymentID, id string) (*deploy.Webhook, error) {
	return getJSON[deploy.Webhook](s, bWebhooks, joinKey(deploymentID, id), "webhook "+id)
}

// ListWebhooks implements deploy.WebhookStore.
func (s *Store) ListWebhooks(ctx context.Context, deploymentID string, p deploy.Page) ([]*deploy.Webhook, string, error) {
	return listJSON[deploy.Webhook](s, "list webhooks of "+deploymentID, bWebhooks, prefixKey(deploymentID), record.ListWebhooks, deploymentID, false, p)
}

// DeleteWebhook implements deploy.WebhookStore.
func (s *Store) DeleteWebhook(ctx context.Context, deploymentID, id string) error {
	return s.deleteWithChildren("webhook", bWebhooks, bDeliveries, deploymentID, id)
}

// deleteWithChildren deletes the record id of a deployment from bucket
// (NotFound if it is not there) and, in the same transaction, the records
// under it in children (a schedule's fires, a webhook's deliveries).
func (s *Store) deleteWithChildren(what string, bucket, children []byte, deploymentID, id string) error {
	return s.update("delete "+what+" "+id, func(tx *bbolt.Tx) error {
		k := joinKey(deploymentID, id)
		if tx.Bucket(bucket).Get(k) == nil {
			return deploy.NotFound("%s %s not found", what, id)
		}
		if err := tx.Bucket(bucket).Delete(k); err != nil {
			return err
		}
		return deletePrefix(tx.Bucket(children), prefixKey(deploymentID, id))
	})
}

// --- deliveries ---

// CreateDelivery implements deploy.WebhookStore.
func (s *Store) CreateDelivery(ctx context.Context, d *deploy.Delivery) error {
	if err := checkIDs(map[string]string{"deployment_id": d.DeploymentID, "webhook_id": d.WebhookID, "id": d.ID}); err != nil {
		return fmt.Errorf("bolt: create delivery: %w", err)
	}
	cp := *d
	cp.Version = 1
	err := s.update("create delivery "+d.ID, func(tx *bbolt.Tx) error {
		v := 0
		if err := putVersioned(tx, bDeliveries, joinKey(d.DeploymentID, d.WebhookID, d.ID), "delivery "+d.ID, &v, &cp, versionOf("delivery")); err != nil {
			return err
		}
		return prune(tx.Bucket(bDeliveries), prefixKey(d.DeploymentID, d.WebhookID), record.KeepPerParent)
	})
	if err != nil {
		return err
	}
	d.Version = 1
	return nil
}

// UpdateDelivery implements deploy.WebhookStore.
func (s *Store) UpdateDelivery(ctx context.Context, d *deploy.Delivery) error {
	ver := d.Version
	if ver <= 0 {
		return fmt.Errorf("bolt: update delivery: %w", deploy.Invalid("version", "an update names the version it read"))
	}
	cp := *d
	cp.Version = ver + 1
	err := s.update("update delivery "+d.ID, func(tx *bbolt.Tx) error {
		v := ver
		return putVersioned(tx, bDeliveries, joinKey(d.DeploymentID, d.WebhookID, d.ID), "delivery "+d.ID, &v, &cp, versionOf("delivery"))
	})
	if err != nil {
		return err
	}
	d.Version = ver + 1
	return nil
}

// GetDelivery implements deploy.WebhookStore.
func (s *Store) GetDelivery(ctx context.Context, deploymentID, webhookID, id string) (*deploy.Delivery, error) {
	return getJSON[deploy.Delivery](s, bDeliveries, joinKey(deploymentID, webhookID, id), "delivery "+id)
}

// ListDeliveries implements deploy.WebhookStore.
func (s *Store) ListDeliveries(ctx context.Context, deploymentID, webhookID string, p deploy.Page) ([]*deploy.Delivery, string, error) {
	return listJSON[deploy.Delivery](s, "list deliveries of "+webhookID, bDeliveries, prefixKey(deploymentID, webhookID),
		record.ListDeliveries, deploymentID+"/"+webhookID, true, p)
}
