package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

// Schedules, fires, webhooks and deliveries (deploy.ScheduleStore,
// deploy.WebhookStore) live in their deployment's partition, so that
// DeleteDeployment's purge removes them with it:
//
//	PK         SK                           what        other attributes
//	DEP#<id>   SCHED#<schedule>             a schedule  doc, enc, ver, GSI2PK=SCHEDULES, GSI2SK=<id>#<schedule>
//	DEP#<id>   FIRE#<schedule>#<FireKey>    a fire      doc, enc, ver, ttl (FireRetention after its slot)
//	DEP#<id>   HOOK#<webhook>               a webhook   doc, enc, ver
//	DEP#<id>   DLV#<webhook>#<delivery>     a delivery  doc, enc, ver, ttl (DeliveryRetention after it was made)
//
// Every write is one conditional PutItem (attribute_not_exists for a new
// item, ver = :ver for a replacement), so these work on peers without
// transactions. Reads are GetItem and Query: a deployment's schedules,
// a schedule's fires, a webhook's deliveries are Query on the partition
// with begins_with(SK, ...); every deployment's schedules (the local
// scheduler's listing) is Query on GSI2 with GSI2PK=SCHEDULES. Deleting a
// schedule or a webhook deletes its item, then its fires or deliveries
// (Query, BatchWriteItem).
//
// Old fires and deliveries go by TTL rather than by count: the store keeps
// far more than record.KeepPerParent of them.

var (
	_ deploy.ScheduleStore = (*Store)(nil)
	_ deploy.WebhookStore  = (*Store)(nil)
)

const (
	pfxSchedule  = "SCHED#"
	pfxFire      = "FIRE#"
	pfxWebhook   = "HOOK#"
	pfxDelivery  = "DLV#"
	allSchedules = "SCHEDULES"
)

// How long fires and deliveries are kept (DynamoDB's TTL removes them).
const (
	FireRetention     = 90 * 24 * time.Hour
	DeliveryRetention = 90 * 24 * time.Hour
)

func schedKey(dep, id string) item { return key(pfxDeployment+dep, pfxSchedule+id) }
func fireKey(dep, sched, k string) item {
	return key(pfxDeployment+dep, pfxFire+sched+"#"+k)
}
func hookKey(dep, id string) item { return key(pfxDeployment+dep, pfxWebhook+id) }
func deliveryKey(dep, hook, id string) item {
	return key(pfxDeployment+dep, pfxDelivery+hook+"#"+id)
}

// docItem is k with v's JSON as its doc and ver as its version.
func docItem(k item, what string, v any, ver int) (item, error) {
	doc, err := record.EncodeJSON(what, v)
	if err != nil {
		return nil, err
	}
	if err := packDoc(k, what, doc); err != nil {
		return nil, err
	}
	k[attrVer] = num(int64(ver))
	return k, nil
}

func decodeDoc(it item, what string, v any) error {
	doc, err := unpackDoc(it)
	if err != nil {
		return err
	}
	return record.DecodeJSON(what, doc, v)
}

// putNew writes it if its key is free, or returns Conflict naming what.
func (s *Store) putNew(ctx context.Context, op string, it item, what string) error {
	return s.putIf(ctx, op, it, "attribute_not_exists(PK)", nil, nil, func(item) error {
		return deploy.Conflict("id", "%s already exists", what)
	})
}

// putVersion replaces the item if its stored version is ver.
func (s *Store) putVersion(ctx context.Context, op string, it item, what string, ver int) error {
	cond, vals := verCond(ver)
	return s.putIf(ctx, op, it, cond, nil, vals, func(old item) error {
		if old == nil {
			return deploy.NotFound("%s not found", what)
		}
		v, _ := getN(old, attrVer)
		return deploy.Conflict("version", "%s changed: stored version %d, yours %d", what, v, ver)
	})
}

// getDoc reads the item at k into v, or returns NotFound naming what.
func (s *Store) getDoc(ctx context.Context, op string, k item, what string, v any) error {
	it, err := s.getItem(ctx, op, k)
	if err != nil {
		return err
	}
	if it == nil || expiredItem(it, s.opt.Now()) {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("%s not found", what))
	}
	if err := decodeDoc(it, what, v); err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	return nil
}

// queryPage reads one page of the partition's items whose SK starts with
// prefix, in SK order (descending when desc), after the SK after. It
// returns the SK to continue from ("" on the last page).
func (s *Store) queryPage(ctx context.Context, op, pk, prefix, after string, desc bool, limit int, take func(item) error) (string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :pfx)"),
		ExpressionAttributeValues: item{":pk": str(pk), ":pfx": str(prefix)},
		ScanIndexForward:          aws.Bool(!desc),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if after != "" {
		in.ExclusiveStartKey = key(pk, after)
	}
	now := s.opt.Now()
	n := 0
	last := ""
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return "", wrap(op, err)
		}
		for _, it := range out.Items {
			if expiredItem(it, now) {
				continue
			}
			if n == limit {
				return last, nil
			}
			if err := take(it); err != nil {
				return "", fmt.Errorf("dynamo: %s: %w", op, err)
			}
			n++
			last = getS(it, AttrSK)
		}
		if out.LastEvaluatedKey == nil {
			return "", nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// deleteUnder deletes the partition's items whose SK starts with prefix.
func (s *Store) deleteUnder(ctx context.Context, op, pk, prefix string) error {
	return s.deleteQueried(ctx, op, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :pfx)"),
		ExpressionAttributeValues: item{":pk": str(pk), ":pfx": str(prefix)},
		ProjectionExpression:      aws.String("PK, SK"),
		ConsistentRead:            aws.Bool(true),
	})
}

// deleteItem deletes the item at k if it exists, or returns NotFound.
func (s *Store) deleteItem(ctx context.Context, op string, k item, what string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: k, ConditionExpression: aws.String("attribute_exists(PK)"),
	})
	if _, ok := conditionFailed(err); ok {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("%s not found", what))
	}
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// cursor decodes p's cursor for listing list of scope; its position must
// start with prefix.
func cursorAfter(p deploy.Page, list, scope, prefix string) (string, error) {
	if p.Cursor == "" {
		return "", nil
	}
	after, err := record.DecodeCursor(p.Cursor, list, scope)
	if err == nil && !strings.HasPrefix(after, prefix) {
		err = deploy.Invalid("cursor", "not a cursor of this listing: bad position")
	}
	return after, err
}

// getT reads the item at k into a new T, or returns NotFound naming what.
func getT[T any](ctx context.Context, s *Store, op string, k item, what string) (*T, error) {
	var v T
	if err := s.getDoc(ctx, op, k, what, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// listT reads one page of the partition pk's items whose SK starts with
// prefix, for the listing list of scope.
func listT[T any](ctx context.Context, s *Store, op, pk, prefix, list, scope string, desc bool, p deploy.Page) ([]*T, string, error) {
	limit, err := record.Limit(p)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
	}
	after, err := cursorAfter(p, list, scope, prefix)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
	}
	var out []*T
	last, err := s.queryPage(ctx, op, pk, prefix, after, desc, limit, func(it item) error {
		var v T
		if err := decodeDoc(it, list, &v); err != nil {
			return err
		}
		out = append(out, &v)
		return nil
	})
	if err != nil || last == "" {
		return out, "", err
	}
	return out, record.EncodeCursor(list, scope, last), nil
}

// --- schedules ---

// PutSchedule implements deploy.ScheduleStore.
func (s *Store) PutSchedule(ctx context.Context, sc *deploy.Schedule) error {
	op := "put schedule " + sc.ID
	if sc.ID == "" || sc.DeploymentID == "" || strings.Contains(sc.DeploymentID, "#") {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("id", "a schedule needs an ID and a deployment"))
	}
	cp := *sc
	cp.Version = sc.Version + 1
	it, err := docItem(schedKey(sc.DeploymentID, sc.ID), "schedule "+sc.ID, &cp, cp.Version)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	it[AttrGSI2PK] = str(allSchedules)
	it[AttrGSI2SK] = str(sc.DeploymentID + "#" + sc.ID)
	if sc.Version == 0 {
		err = s.putNew(ctx, op, it, "schedule "+sc.ID)
	} else {
		err = s.putVersion(ctx, op, it, "schedule "+sc.ID, sc.Version)
	}
	if err != nil {
		return err
	}
	sc.Version = cp.Version
	return nil
}

// GetSchedule implements deploy.ScheduleStore.
func (s *Store) GetSchedule(ctx context.Context, deploymentID, id string) (*deploy.Schedule, error) {
	return getT[deploy.Schedule](ctx, s, "get schedule "+id, schedKey(deploymentID, id), "schedule "+id)
}

// ListSchedules implements deploy.ScheduleStore.
func (s *Store) ListSchedules(ctx context.Context, deploymentID string, p deploy.Page) ([]*deploy.Schedule, string, error) {
	op := "list schedules of " + deploymentID
	limit, err := record.Limit(p)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
	}
	var out []*deploy.Schedule
	take := func(it item) error {
		var sc deploy.Schedule
		if err := decodeDoc(it, "schedule", &sc); err != nil {
			return err
		}
		out = append(out, &sc)
		return nil
	}
	if deploymentID != "" {
		return listT[deploy.Schedule](ctx, s, op, pfxDeployment+deploymentID, pfxSchedule, record.ListSchedules, deploymentID, false, p)
	}
	// Every deployment's: GSI2, partition SCHEDULES.
	after, err := cursorAfter(p, record.ListSchedules, "", "")
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(IndexAll),
		KeyConditionExpression:    aws.String(AttrGSI2PK + " = :pk"),
		ExpressionAttributeValues: item{":pk": str(allSchedules)},
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if after != "" {
		dep, id, ok := strings.Cut(after, "#")
		if !ok {
			return nil, "", fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("cursor", "not a cursor of this listing: bad position"))
		}
		start := schedKey(dep, id)
		start[AttrGSI2PK], start[AttrGSI2SK] = str(allSchedules), str(after)
		in.ExclusiveStartKey = start
	}
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", wrap(op, err)
		}
		for _, it := range res.Items {
			if len(out) == limit {
				last := out[len(out)-1]
				return out, record.EncodeCursor(record.ListSchedules, "", last.DeploymentID+"#"+last.ID), nil
			}
			if err := take(it); err != nil {
				return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
			}
		}
		if res.LastEvaluatedKey == nil {
			return out, "", nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// DeleteSchedule implements deploy.ScheduleStore.
func (s *Store) DeleteSchedule(ctx context.Context, deploymentID, id string) error {
	op := "delete schedule " + id
	if err := s.deleteItem(ctx, op, schedKey(deploymentID, id), "schedule "+id); err != nil {
		return err
	}
	return s.deleteUnder(ctx, op+": delete its fires", pfxDeployment+deploymentID, pfxFire+id+"#")
}

// --- fires ---

func (s *Store) fireItem(f *deploy.Fire, ver int) (item, error) {
	cp := *f
	cp.Version = ver
	it, err := docItem(fireKey(f.DeploymentID, f.ScheduleID, deploy.FireKey(f.Slot)), "fire", &cp, ver)
	if err != nil {
		return nil, err
	}
	it[AttrTTL] = ttlValue(f.Slot.Add(FireRetention))
	return it, nil
}

// CreateFire implements deploy.ScheduleStore.
func (s *Store) CreateFire(ctx context.Context, f *deploy.Fire) error {
	op := "create fire " + f.ScheduleID + "/" + deploy.FireKey(f.Slot)
	if f.ScheduleID == "" || f.DeploymentID == "" {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("id", "a fire needs a schedule and a deployment"))
	}
	it, err := s.fireItem(f, 1)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if err := s.putNew(ctx, op, it, "fire of slot "+f.Slot.UTC().Format("2006-01-02T15:04:05Z")); err != nil {
		return err
	}
	f.Version = 1
	return nil
}

// UpdateFire implements deploy.ScheduleStore.
func (s *Store) UpdateFire(ctx context.Context, f *deploy.Fire) error {
	op := "update fire " + f.ScheduleID + "/" + deploy.FireKey(f.Slot)
	if f.Version <= 0 {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("version", "an update names the version it read"))
	}
	it, err := s.fireItem(f, f.Version+1)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if err := s.putVersion(ctx, op, it, "fire "+f.ScheduleID+"/"+deploy.FireKey(f.Slot), f.Version); err != nil {
		return err
	}
	f.Version++
	return nil
}

// GetFire implements deploy.ScheduleStore.
func (s *Store) GetFire(ctx context.Context, deploymentID, scheduleID, k string) (*deploy.Fire, error) {
	return getT[deploy.Fire](ctx, s, "get fire "+scheduleID+"/"+k, fireKey(deploymentID, scheduleID, k), "fire "+k+" of schedule "+scheduleID)
}

// ListFires implements deploy.ScheduleStore.
func (s *Store) ListFires(ctx context.Context, deploymentID, scheduleID string, p deploy.Page) ([]*deploy.Fire, string, error) {
	return listT[deploy.Fire](ctx, s, "list fires of "+scheduleID, pfxDeployment+deploymentID, pfxFire+scheduleID+"#",
		record.ListFires, deploymentID+"/"+scheduleID, true, p)
}

// --- webhooks ---

// CreateWebhook implements deploy.WebhookStore.
func (s *Store) CreateWebhook(ctx context.Context, w *deploy.Webhook) error {
	op := "create webhook " + w.ID
	if w.ID == "" || w.DeploymentID == "" {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("id", "a webhook needs an ID and a deployment"))
	}
	cp := *w
	cp.Version = 1
	it, err := docItem(hookKey(w.DeploymentID, w.ID), "webhook "+w.ID, &cp, 1)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if err := s.putNew(ctx, op, it, "webhook "+w.ID); err != nil {
		return err
	}
	w.Version = 1
	return nil
}

// GetWebhook implements deploy.WebhookStore.
func (s *Store) GetWebhook(ctx context.Context, deploymentID, id string) (*deploy.Webhook, error) {
	return getT[deploy.Webhook](ctx, s, "get webhook "+id, hookKey(deploymentID, id), "webhook "+id)
}

// ListWebhooks implements deploy.WebhookStore.
func (s *Store) ListWebhooks(ctx context.Context, deploymentID string, p deploy.Page) ([]*deploy.Webhook, string, error) {
	return listT[deploy.Webhook](ctx, s, "list webhooks of "+deploymentID, pfxDeployment+deploymentID, pfxWebhook,
		record.ListWebhooks, deploymentID, false, p)
}

// DeleteWebhook implements deploy.WebhookStore.
func (s *Store) DeleteWebhook(ctx context.Context, deploymentID, id string) error {
	op := "delete webhook " + id
	if err := s.deleteItem(ctx, op, hookKey(deploymentID, id), "webhook "+id); err != nil {
		return err
	}
	return s.deleteUnder(ctx, op+": delete its deliveries", pfxDeployment+deploymentID, pfxDelivery+id+"#")
}

// --- deliveries ---

func (s *Store) deliveryItem(d *deploy.Delivery, ver int) (item, error) {
	cp := *d
	cp.Version = ver
	it, err := docItem(deliveryKey(d.DeploymentID, d.WebhookID, d.ID), "delivery "+d.ID, &cp, ver)
	if err != nil {
		return nil, err
	}
	it[AttrTTL] = ttlValue(d.CreatedAt.Add(DeliveryRetention))
	return it, nil
}

// CreateDelivery implements deploy.WebhookStore.
func (s *Store) CreateDelivery(ctx context.Context, d *deploy.Delivery) error {
	op := "create delivery " + d.ID
	if d.ID == "" || d.WebhookID == "" || d.DeploymentID == "" {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("id", "a delivery needs an ID, a webhook and a deployment"))
	}
	it, err := s.deliveryItem(d, 1)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if err := s.putNew(ctx, op, it, "delivery "+d.ID); err != nil {
		return err
	}
	d.Version = 1
	return nil
}

// UpdateDelivery implements deploy.WebhookStore.
func (s *Store) UpdateDelivery(ctx context.Context, d *deploy.Delivery) error {
	op := "update delivery " + d.ID
	if d.Version <= 0 {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("version", "an update names the version it read"))
	}
	it, err := s.deliveryItem(d, d.Version+1)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if err := s.putVersion(ctx, op, it, "delivery "+d.ID, d.Version); err != nil {
		return err
	}
	d.Version++
	return nil
}

// GetDelivery implements deploy.WebhookStore.
func (s *Store) GetDelivery(ctx context.Context, deploymentID, webhookID, id string) (*deploy.Delivery, error) {
	return getT[deploy.Delivery](ctx, s, "get delivery "+id, deliveryKey(deploymentID, webhookID, id), "delivery "+id)
}

// ListDeliveries implements deploy.WebhookStore.
func (s *Store) ListDeliveries(ctx context.Context, deploymentID, webhookID string, p deploy.Page) ([]*deploy.Delivery, string, error) {
	return listT[deploy.Delivery](ctx, s, "list deliveries of "+webhookID, pfxDeployment+deploymentID, pfxDelivery+webhookID+"#",
		record.ListDeliveries, deploymentID+"/"+webhookID, true, p)
}
