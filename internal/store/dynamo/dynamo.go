package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/store/record"
)

var _ deploy.Store = (*Store)(nil)

// Options configure a Store.
type Options struct {
	// Table is the table's name (required).
	Table string
	// Retention is how long a finished run is kept (0: forever).
	Retention time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxAttempts bounds the SDK's standard retryer, which retries
	// throttling and transient faults with backoff (default 5).
	MaxAttempts int
	// ClientOptions adjust the DynamoDB client after the defaults (an
	// endpoint, an HTTP client, middleware).
	ClientOptions []func(*dynamodb.Options)
}

// DefaultMaxAttempts is Options.MaxAttempts when zero.
const DefaultMaxAttempts = 5

// Store is a deploy.Store in one DynamoDB table.
type Store struct {
	db    *dynamodb.Client
	table string
	opt   Options
}

// New returns a store on the table opt.Table, reached with cfg.
func New(cfg aws.Config, opt Options) (*Store, error) {
	if opt.Table == "" {
		return nil, errors.New("dynamo: no table name")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultMaxAttempts
	}
	fns := append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = opt.MaxAttempts })
	}}, opt.ClientOptions...)
	return &Store{db: dynamodb.NewFromConfig(cfg, fns...), table: opt.Table, opt: opt}, nil
}

// --- errors ---

// wrap gives err the operation's context; throttling that outlived the
// SDK's retries is Transient.
func wrap(op string, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException":
			return fmt.Errorf("dynamo: %s: %w", op, deploy.Transient(err, "DynamoDB is throttling"))
		}
	}
	return fmt.Errorf("dynamo: %s: %w", op, err)
}

// conditionFailed returns the item a failed single-item condition saw
// (nil when there was none) and whether err is such a failure.
func conditionFailed(err error) (item, bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	return nil, false
}

// action is one item of a transaction and what a failed condition on it
// means, given the item as it was (nil when missing).
type action struct {
	tx     types.TransactWriteItem
	failed func(old item) error
}

func (s *Store) put(it item, cond string, vals item, failed func(item) error) action {
	p := &types.Put{TableName: &s.table, Item: it, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
	if cond != "" {
		p.ConditionExpression = aws.String(cond)
		p.ExpressionAttributeValues = vals
	}
	return action{tx: types.TransactWriteItem{Put: p}, failed: failed}
}

func (s *Store) del(k item, cond string, vals item, failed func(item) error) action {
	d := &types.Delete{TableName: &s.table, Key: k, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
	if cond != "" {
		d.ConditionExpression = aws.String(cond)
		d.ExpressionAttributeValues = vals
	}
	return action{tx: types.TransactWriteItem{Delete: d}, failed: failed}
}

func (s *Store) check(k item, cond string, vals item, failed func(item) error) action {
	return action{tx: types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: &s.table, Key: k, ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}, failed: failed}
}

// maxTransactItems is DynamoDB's limit on one TransactWriteItems.
const maxTransactItems = 100

// transact writes acts all or nothing. A cancelled transaction becomes the
// error of its first failed condition (DynamoDB reports every item's
// reason; the actions are ordered so the first is the most telling).
func (s *Store) transact(ctx context.Context, op string, acts []action) error {
	if len(acts) > maxTransactItems {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("", "one change may touch at most %d items, this one %d", maxTransactItems, len(acts)))
	}
	items := make([]types.TransactWriteItem, len(acts))
	for i, a := range acts {
		items[i] = a.tx
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return nil
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return wrap(op, err)
	}
	for i, r := range tce.CancellationReasons {
		if aws.ToString(r.Code) == "ConditionalCheckFailed" && i < len(acts) {
			old := s.explain(ctx, actionKey(acts[i].tx), r.Item)
			return fmt.Errorf("dynamo: %s: %w", op, acts[i].failed(old))
		}
	}
	for _, r := range tce.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "TransactionConflict":
			return fmt.Errorf("dynamo: %s: %w", op, deploy.Conflict("", "changed at the same time by another request: read it again"))
		case "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
			return fmt.Errorf("dynamo: %s: %w", op, deploy.Transient(err, "DynamoDB is throttling"))
		}
	}
	return wrap(op, err)
}

// explain returns the item a failed condition saw: got, when the peer
// returned it (DynamoDB does, with ReturnValuesOnConditionCheckFailure
// ALL_OLD), or else the item as it is now (minidyn returns none for Put and
// Delete). nil means there is no such item.
func (s *Store) explain(ctx context.Context, k item, got item) item {
	if len(got) > 0 || k == nil {
		return got
	}
	it, err := s.getItem(ctx, "explain a failed condition", k)
	if err != nil {
		return nil
	}
	return it
}

// actionKey returns the key of the item a transaction action writes.
func actionKey(tx types.TransactWriteItem) item {
	switch {
	case tx.Put != nil:
		return key(getS(tx.Put.Item, AttrPK), getS(tx.Put.Item, AttrSK))
	case tx.Update != nil:
		return tx.Update.Key
	case tx.Delete != nil:
		return tx.Delete.Key
	case tx.ConditionCheck != nil:
		return tx.ConditionCheck.Key
	}
	return nil
}

// putIf writes it if cond holds, and otherwise returns the error failed
// makes of the item that was there.
func (s *Store) putIf(ctx context.Context, op string, it item, cond string, names map[string]string, vals item, failed func(old item) error) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: it, ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if got, ok := conditionFailed(err); ok {
		old := s.explain(ctx, key(getS(it, AttrPK), getS(it, AttrSK)), got)
		return fmt.Errorf("dynamo: %s: %w", op, failed(old))
	}
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// Failure explanations.

func depMissing(id string) func(item) error {
	return func(item) error { return deploy.NotFound("deployment %s not found", id) }
}

func depChanged(id string, version int) func(item) error {
	return func(old item) error {
		if old == nil {
			return deploy.NotFound("deployment %s not found", id)
		}
		v, _ := getN(old, attrVer)
		return deploy.Conflict("version", "deployment %s changed: stored version %d, yours %d", id, v, version)
	}
}

func depExists(id string) func(item) error {
	return func(item) error { return deploy.Conflict("id", "deployment %s already exists", id) }
}

func runExists(id string) func(item) error {
	return func(item) error { return deploy.Conflict("id", "run %s already exists", id) }
}

func activeHeld(depID string) func(item) error {
	return func(old item) error {
		if old == nil {
			return deploy.Conflict("run", "the active run of deployment %s changed at the same time", depID)
		}
		return deploy.Conflict("run", "run %s is still active on deployment %s", getS(old, attrRun), depID)
	}
}

func hostClaimed(field, host string) func(item) error {
	return func(old item) error {
		if old == nil {
			return deploy.Conflict(field+".host", "host %s was claimed and released at the same time: try again", host)
		}
		return deploy.Conflict(field+".host", "host %s already belongs to deployment %s", host, getS(old, attrDep))
	}
}

func instanceClaimed(field, id string) func(item) error {
	return func(old item) error {
		if old == nil {
			return deploy.Conflict(field+".instance_id", "instance %s was claimed and released at the same time: try again", id)
		}
		return deploy.Conflict(field+".instance_id", "instance %s already belongs to deployment %s (host %s)", id, getS(old, attrDep), getS(old, attrHost))
	}
}

func claimMoved(host string) func(item) error {
	return func(old item) error {
		if old == nil {
			return deploy.Conflict("host", "the claim of %s changed at the same time", host)
		}
		return deploy.Conflict("host", "the claim of %s changed at the same time (now deployment %s)", host, getS(old, attrDep))
	}
}

// --- items ---

func (s *Store) deploymentItem(d *deploy.Deployment) (item, error) {
	doc, err := record.EncodeDeployment(d)
	if err != nil {
		return nil, err
	}
	it := depKey(d.ID)
	if err := packDoc(it, "deployment "+d.ID, doc); err != nil {
		return nil, err
	}
	created := record.CreatedKey(d.CreatedAt, d.ID)
	it[attrVer] = num(int64(d.Version))
	it[attrOwner] = str(d.Owner)
	it[AttrGSI1PK] = str(pfxOwner + d.Owner)
	it[AttrGSI1SK] = str(created)
	it[AttrGSI2PK] = str(allDeployments)
	it[AttrGSI2SK] = str(created)
	return it, nil
}

func decodeDeployment(it item) (*deploy.Deployment, error) {
	doc, err := unpackDoc(it)
	if err != nil {
		return nil, err
	}
	return record.DecodeDeployment(doc)
}

func (s *Store) runItem(r *deploy.Run) (item, error) {
	doc, err := record.EncodeRun(r)
	if err != nil {
		return nil, err
	}
	it := runKey(r.DeploymentID, r.ID)
	if err := packDoc(it, "run "+r.ID, doc); err != nil {
		return nil, err
	}
	it[attrVer] = num(int64(r.Version))
	it[attrStatus] = str(string(r.Status))
	if !r.ExpiresAt.IsZero() {
		it[AttrTTL] = ttlValue(r.ExpiresAt)
	}
	return it, nil
}

func decodeRun(it item) (*deploy.Run, error) {
	doc, err := unpackDoc(it)
	if err != nil {
		return nil, err
	}
	return record.DecodeRun(doc)
}

func claimItems(depID string, srv deploy.Server) ([]item, error) {
	b, err := record.EncodeJSON("server", srv)
	if err != nil {
		return nil, err
	}
	host := hostKey(srv.Host)
	host[attrDep], host[attrServer] = str(depID), str(string(b))
	out := []item{host}
	if srv.InstanceID != "" {
		iid := instanceKey(srv.InstanceID)
		iid[attrDep], iid[attrHost], iid[attrServer] = str(depID), str(srv.Host), str(string(b))
		out = append(out, iid)
	}
	return out, nil
}

// claimActions claims srv's host and instance ID for depID.
func (s *Store) claimActions(depID string, srv deploy.Server, field string) ([]action, error) {
	if srv.Host == "" {
		return nil, deploy.Invalid(field+".host", "is required")
	}
	its, err := claimItems(depID, srv)
	if err != nil {
		return nil, err
	}
	acts := []action{s.put(its[0], "attribute_not_exists(PK)", nil, hostClaimed(field, srv.Host))}
	if len(its) > 1 {
		acts = append(acts, s.put(its[1], "attribute_not_exists(PK)", nil, instanceClaimed(field, srv.InstanceID)))
	}
	return acts, nil
}

// releaseActions releases srv's claims if they are depID's.
func (s *Store) releaseActions(depID string, srv deploy.Server) []action {
	vals := item{":dep": str(depID)}
	cond := "attribute_not_exists(PK) OR dep = :dep"
	acts := []action{s.del(hostKey(srv.Host), cond, vals, claimMoved(srv.Host))}
	if srv.InstanceID != "" {
		acts = append(acts, s.del(instanceKey(srv.InstanceID), cond, vals, claimMoved(srv.InstanceID)))
	}
	return acts
}

// newRunActions stores r (versioned) as a new run and takes the active slot
// if r is active.
func (s *Store) newRunActions(r *deploy.Run) ([]action, error) {
	it, err := s.runItem(r)
	if err != nil {
		return nil, err
	}
	var acts []action
	if r.Status.Active() {
		lock := activeKey(r.DeploymentID)
		lock[attrRun] = str(r.ID)
		acts = append(acts, s.put(lock, "attribute_not_exists(PK)", nil, activeHeld(r.DeploymentID)))
	}
	return append(acts, s.put(it, "attribute_not_exists(PK)", nil, runExists(r.ID))), nil
}

func (s *Store) getItem(ctx context.Context, op string, k item) (item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, wrap(op, err)
	}
	return out.Item, nil
}

func (s *Store) getDeployment(ctx context.Context, op, id string) (*deploy.Deployment, error) {
	it, err := s.getItem(ctx, op, depKey(id))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("deployment %s not found", id))
	}
	d, err := decodeDeployment(it)
	if err != nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, err)
	}
	return d, nil
}

func verCond(v int) (string, item) {
	return "ver = :ver", item{":ver": num(int64(v))}
}

// --- deployments ---

// CreateDeployment implements deploy.DeploymentStore.
func (s *Store) CreateDeployment(ctx context.Context, d *deploy.Deployment, first *deploy.Run) error {
	op := "create deployment " + d.ID
	if d.ID == "" || first.ID == "" {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("id", "the deployment and its first run need IDs"))
	}
	if first.DeploymentID != d.ID {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("run.deployment_id", "the first run belongs to %q", first.DeploymentID))
	}
	if err := record.UniqueInstances(d); err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	dd, rr := *d, *first
	dd.Version, rr.Version = 1, 1
	record.FinishRun(&rr, s.opt.Retention, s.opt.Now())
	meta, err := s.deploymentItem(&dd)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	acts := []action{s.put(meta, "attribute_not_exists(PK)", nil, depExists(d.ID))}
	hosts, iids := map[string]bool{}, map[string]bool{}
	for i, srv := range dd.Servers {
		field := fmt.Sprintf("servers[%d]", i)
		if hosts[srv.Host] || (srv.InstanceID != "" && iids[srv.InstanceID]) {
			return fmt.Errorf("dynamo: %s: %w", op, deploy.Conflict(field, "host %s (or its instance) is listed twice", srv.Host))
		}
		hosts[srv.Host], iids[srv.InstanceID] = true, true
		claims, err := s.claimActions(d.ID, srv, field)
		if err != nil {
			return fmt.Errorf("dynamo: %s: %w", op, err)
		}
		acts = append(acts, claims...)
	}
	runActs, err := s.newRunActions(&rr)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if err := s.transact(ctx, op, append(acts, runActs...)); err != nil {
		return err
	}
	d.Version, first.Version, first.ExpiresAt = dd.Version, rr.Version, rr.ExpiresAt
	return nil
}

// GetDeployment implements deploy.DeploymentStore.
func (s *Store) GetDeployment(ctx context.Context, id string) (*deploy.Deployment, error) {
	return s.getDeployment(ctx, "get deployment "+id, id)
}

// ListDeployments implements deploy.DeploymentStore.
func (s *Store) ListDeployments(ctx context.Context, owner string, p deploy.Page) ([]*deploy.Deployment, string, error) {
	op := "list deployments of " + owner
	limit, err := record.Limit(p)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
	}
	index, pkName, skName, pk := IndexOwner, AttrGSI1PK, AttrGSI1SK, pfxOwner+owner
	if owner == "" {
		index, pkName, skName, pk = IndexAll, AttrGSI2PK, AttrGSI2SK, allDeployments
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String(pkName + " = :pk"),
		ExpressionAttributeValues: item{":pk": str(pk)},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if p.Cursor != "" {
		after, err := record.DecodeCursor(p.Cursor, record.ListDeployments, owner)
		if err == nil && !record.ValidCreatedKey(after) {
			err = deploy.Invalid("cursor", "not a cursor of this listing: bad position")
		}
		if err != nil {
			return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
		}
		_, id, _ := strings.Cut(after, "#")
		start := depKey(id)
		start[pkName], start[skName] = str(pk), str(after)
		in.ExclusiveStartKey = start
	}
	var ds []*deploy.Deployment
	var next string
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", wrap(op, err)
		}
		for _, it := range out.Items {
			if len(ds) == limit {
				last := ds[len(ds)-1]
				return ds, record.EncodeCursor(record.ListDeployments, owner, record.CreatedKey(last.CreatedAt, last.ID)), nil
			}
			d, err := decodeDeployment(it)
			if err != nil {
				return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
			}
			ds = append(ds, d)
		}
		if out.LastEvaluatedKey == nil {
			return ds, next, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// UpdateDeployment implements deploy.DeploymentStore.
func (s *Store) UpdateDeployment(ctx context.Context, d *deploy.Deployment) error {
	op := "update deployment " + d.ID
	if err := record.UniqueInstances(d); err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	stored, err := s.getDeployment(ctx, op, d.ID)
	if err != nil {
		return err
	}
	if stored.Version != d.Version {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Conflict("version", "deployment %s changed: stored version %d, yours %d", d.ID, stored.Version, d.Version))
	}
	dd := *d
	dd.Servers = stored.Servers // the version pins them
	dd.Version = d.Version + 1
	it, err := s.deploymentItem(&dd)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	cond, vals := verCond(d.Version)
	if err := s.putIf(ctx, op, it, cond, nil, vals, depChanged(d.ID, d.Version)); err != nil {
		return err
	}
	d.Version = dd.Version
	return nil
}

// AddInstance implements deploy.DeploymentStore.
func (s *Store) AddInstance(ctx context.Context, deploymentID string, version int, inst deploy.Instance, run *deploy.Run) error {
	op := fmt.Sprintf("add %s instance to %s", inst.Type, deploymentID)
	if run.DeploymentID != deploymentID || run.ID == "" {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("run", "the run (%q of %q) does not belong to the deployment", run.ID, run.DeploymentID))
	}
	d, err := s.getDeployment(ctx, op, deploymentID)
	if err != nil {
		return err
	}
	if d.Version != version {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Conflict("version", "deployment %s changed: stored version %d, yours %d", deploymentID, d.Version, version))
	}
	if d.Instance(inst.Type) != nil {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Conflict("instance.type", "deployment %s already has a %s instance", deploymentID, inst.Type))
	}
	d.Instances = append(d.Instances, inst)
	d.Version++
	meta, err := s.deploymentItem(d)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	rr := *run
	rr.Version = 1
	record.FinishRun(&rr, s.opt.Retention, s.opt.Now())
	runActs, err := s.newRunActions(&rr)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	cond, vals := verCond(version)
	acts := append([]action{s.put(meta, cond, vals, depChanged(deploymentID, version))}, runActs...)
	if err := s.transact(ctx, op, acts); err != nil {
		return err
	}
	run.Version, run.ExpiresAt = rr.Version, rr.ExpiresAt
	return nil
}

// DeleteDeployment implements deploy.DeploymentStore.
func (s *Store) DeleteDeployment(ctx context.Context, id string) error {
	op := "delete deployment " + id
	d, err := s.getDeployment(ctx, op, id)
	if deploy.IsKind(err, deploy.KindNotFound) {
		// Finish a cleanup that an earlier delete left undone: it may have
		// left a release record.
		if err := s.purge(ctx, op, id, true); err != nil {
			return err
		}
		return err
	}
	if err != nil {
		return err
	}
	cond, vals := verCond(d.Version)
	acts := []action{
		s.del(depKey(id), cond, vals, depChanged(id, d.Version)),
		s.del(activeKey(id), "", nil, nil),
	}
	var claims []action
	for _, srv := range d.Servers {
		claims = append(claims, s.releaseActions(id, srv)...)
	}
	overflow := len(acts)+len(claims) > maxTransactItems
	if overflow {
		// Too many claims for one transaction: the deployment goes with
		// as many as fit and a release record listing the rest, which
		// releaseRest (now, or a later delete) works through.
		n := maxTransactItems - len(acts) - 1
		acts = append(acts, s.put(releaseItem(id, claims[n:]), "", nil, nil))
		claims = claims[:n]
	}
	if err := s.transact(ctx, op, append(acts, claims...)); err != nil {
		return err
	}
	// A release record exists only if this transaction wrote one: an
	// earlier delete's record goes in with the deployment's deletion, and
	// this one found the deployment still there (IDs are never reused).
	return s.purge(ctx, op, id, overflow)
}

// releaseItem records the claims a deployment's delete could not release
// in its transaction (their keys' PKs; every claim's SK is skClaim).
func releaseItem(depID string, claims []action) item {
	pks := make([]types.AttributeValue, len(claims))
	for i, c := range claims {
		pks[i] = actionKey(c.tx)[AttrPK]
	}
	it := key(pfxDeployment+depID, skRelease)
	it[attrClaims] = &types.AttributeValueMemberL{Value: pks}
	return it
}

// releaseRest releases the claims a deleted deployment's release record
// lists, in transactions of at most maxTransactItems. Each delete holds
// only while the claim is still the deployment's (or already gone), so
// running it twice is harmless.
func (s *Store) releaseRest(ctx context.Context, op, depID string) error {
	rec, err := s.getItem(ctx, op+": read the claims left to release", key(pfxDeployment+depID, skRelease))
	if err != nil || rec == nil {
		return err
	}
	l, _ := rec[attrClaims].(*types.AttributeValueMemberL)
	if l == nil {
		return nil
	}
	vals := item{":dep": str(depID)}
	cond := "attribute_not_exists(PK) OR dep = :dep"
	var acts []action
	for _, v := range l.Value {
		pk, _ := v.(*types.AttributeValueMemberS)
		if pk == nil {
			continue
		}
		// The claim's name follows its prefix (HOST# or IID#).
		name := pk.Value[strings.IndexByte(pk.Value, '#')+1:]
		acts = append(acts, s.del(key(pk.Value, skClaim), cond, vals, claimMoved(name)))
	}
	for len(acts) > 0 {
		n := min(maxTransactItems, len(acts))
		if err := s.transact(ctx, op+": release claims", acts[:n]); err != nil {
			return err
		}
		acts = acts[n:]
	}
	return nil
}

// purge deletes every item left in the deployment's partition (its runs
// and any release record). If record is set (a release record may exist)
// it first reads that record and releases the claims it lists; callers
// unset it only when they know there is none, which spares an ordinary
// delete a consistent read.
func (s *Store) purge(ctx context.Context, op, id string, record bool) error {
	if record {
		if err := s.releaseRest(ctx, op, id); err != nil {
			return err
		}
	}
	return s.deleteQueried(ctx, op+": delete runs", &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: item{":pk": str(pfxDeployment + id)},
		ProjectionExpression:      aws.String("PK, SK"),
		ConsistentRead:            aws.Bool(true),
	})
}

// deleteQueried deletes every item the query in finds (its projection
// holds the keys), page by page, 25 keys to a batch.
func (s *Store) deleteQueried(ctx context.Context, op string, in *dynamodb.QueryInput) error {
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return wrap(op, err)
		}
		for len(out.Items) > 0 {
			n := min(25, len(out.Items))
			reqs := make([]types.WriteRequest, n)
			for i, it := range out.Items[:n] {
				reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(getS(it, AttrPK), getS(it, AttrSK))}}
			}
			if err := s.batchDelete(ctx, op, reqs); err != nil {
				return err
			}
			out.Items = out.Items[n:]
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// batchDelete sends reqs, resending what DynamoDB reports unprocessed (part
// of BatchWriteItem's contract, not a retry of a failed call).
func (s *Store) batchDelete(ctx context.Context, op string, reqs []types.WriteRequest) error {
	pending := map[string][]types.WriteRequest{s.table: reqs}
	for attempt := 0; len(pending[s.table]) > 0; attempt++ {
		if attempt == 8 {
			return fmt.Errorf("dynamo: %s: %w", op, deploy.Transient(nil, "%d runs left undeleted: delete the deployment again", len(pending[s.table])))
		}
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
			}
		}
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return wrap(op+": delete runs", err)
		}
		pending = out.UnprocessedItems
	}
	return nil
}

// AddServer implements deploy.DeploymentStore.
func (s *Store) AddServer(ctx context.Context, deploymentID string, srv deploy.Server) error {
	op := fmt.Sprintf("add server %s to %s", srv.Host, deploymentID)
	d, err := s.getDeployment(ctx, op, deploymentID)
	if err != nil {
		return err
	}
	if d.Server(srv.Host) != nil {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Conflict("server.host", "host %s already belongs to deployment %s", srv.Host, deploymentID))
	}
	claims, err := s.claimActions(deploymentID, srv, "server")
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	version := d.Version
	d.Servers = append(d.Servers, srv)
	d.Version++
	meta, err := s.deploymentItem(d)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	cond, vals := verCond(version)
	return s.transact(ctx, op, append(claims, s.put(meta, cond, vals, depChanged(deploymentID, version))))
}

// RemoveServer implements deploy.DeploymentStore.
func (s *Store) RemoveServer(ctx context.Context, deploymentID, host string) error {
	op := fmt.Sprintf("remove server %s from %s", host, deploymentID)
	d, err := s.getDeployment(ctx, op, deploymentID)
	if err != nil {
		return err
	}
	i := -1
	for j, srv := range d.Servers {
		if srv.Host == host {
			i = j
		}
	}
	if i < 0 {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("server %s not found in deployment %s", host, deploymentID))
	}
	srv := d.Servers[i]
	version := d.Version
	d.Servers = append(d.Servers[:i:i], d.Servers[i+1:]...)
	d.Version++
	meta, err := s.deploymentItem(d)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	cond, vals := verCond(version)
	acts := append([]action{s.put(meta, cond, vals, depChanged(deploymentID, version))}, s.releaseActions(deploymentID, srv)...)
	return s.transact(ctx, op, acts)
}

func (s *Store) findClaim(ctx context.Context, op string, k item, what string) (string, deploy.Server, error) {
	it, err := s.getItem(ctx, op, k)
	if err != nil {
		return "", deploy.Server{}, err
	}
	if it == nil {
		return "", deploy.Server{}, fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("%s belongs to no deployment", what))
	}
	var srv deploy.Server
	if err := record.DecodeJSON("server", []byte(getS(it, attrServer)), &srv); err != nil {
		return "", deploy.Server{}, fmt.Errorf("dynamo: %s: %w", op, err)
	}
	return getS(it, attrDep), srv, nil
}

// FindServerByHost implements deploy.DeploymentStore.
func (s *Store) FindServerByHost(ctx context.Context, host string) (string, deploy.Server, error) {
	return s.findClaim(ctx, "find server "+host, hostKey(host), "host "+host)
}

// FindServerByInstanceID implements deploy.DeploymentStore.
func (s *Store) FindServerByInstanceID(ctx context.Context, instanceID string) (string, deploy.Server, error) {
	return s.findClaim(ctx, "find instance "+instanceID, instanceKey(instanceID), "instance "+instanceID)
}

// --- runs ---

// CreateRun implements deploy.RunStore.
func (s *Store) CreateRun(ctx context.Context, r *deploy.Run) error {
	op := "create run " + r.ID
	if r.ID == "" || r.DeploymentID == "" {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("id", "a run needs an ID and a deployment"))
	}
	rr := *r
	rr.Version = 1
	record.FinishRun(&rr, s.opt.Retention, s.opt.Now())
	runActs, err := s.newRunActions(&rr)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	acts := append([]action{s.check(depKey(r.DeploymentID), "attribute_exists(PK)", nil, depMissing(r.DeploymentID))}, runActs...)
	if err := s.transact(ctx, op, acts); err != nil {
		return err
	}
	r.Version, r.ExpiresAt = rr.Version, rr.ExpiresAt
	return nil
}

// getRun returns the stored run unless it is missing or expired.
func (s *Store) getRun(ctx context.Context, op, depID, runID string) (*deploy.Run, error) {
	it, err := s.getItem(ctx, op, runKey(depID, runID))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("run %s of deployment %s not found", runID, depID))
	}
	r, err := decodeRun(it)
	if err != nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, err)
	}
	if now := s.opt.Now(); expiredItem(it, now) || record.Expired(r.ExpiresAt, now) {
		return nil, fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("run %s of deployment %s not found (expired)", runID, depID))
	}
	return r, nil
}

// GetRun implements deploy.RunStore.
func (s *Store) GetRun(ctx context.Context, deploymentID, runID string) (*deploy.Run, error) {
	return s.getRun(ctx, "get run "+runID, deploymentID, runID)
}

// UpdateRun implements deploy.RunStore.
func (s *Store) UpdateRun(ctx context.Context, r *deploy.Run) error {
	op := "update run " + r.ID
	stored, err := s.getRun(ctx, op, r.DeploymentID, r.ID)
	if err != nil {
		return err
	}
	if stored.Version != r.Version {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Conflict("version", "run %s changed: stored version %d, yours %d", r.ID, stored.Version, r.Version))
	}
	if !stored.Status.CanMoveTo(r.Status) {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Conflict("status", "run %s cannot move from %s to %s", r.ID, stored.Status, r.Status))
	}
	rr := *r
	rr.Version = r.Version + 1
	record.FinishRun(&rr, s.opt.Retention, s.opt.Now())
	it, err := s.runItem(&rr)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	cond, vals := verCond(r.Version)
	changed := func(old item) error {
		v, _ := getN(old, attrVer)
		return deploy.Conflict("version", "run %s changed at the same time: stored version %d, yours %d", r.ID, v, r.Version)
	}
	if stored.Status.Active() && !rr.Status.Active() {
		// Finishing: free the active slot in the same write.
		acts := []action{
			s.put(it, cond, vals, changed),
			s.del(activeKey(r.DeploymentID), "attribute_not_exists(PK) OR run = :run", item{":run": str(r.ID)}, activeHeld(r.DeploymentID)),
		}
		err = s.transact(ctx, op, acts)
	} else {
		err = s.putIf(ctx, op, it, cond, nil, vals, changed)
	}
	if err != nil {
		return err
	}
	r.Version, r.ExpiresAt = rr.Version, rr.ExpiresAt
	return nil
}

// ListRuns implements deploy.RunStore.
func (s *Store) ListRuns(ctx context.Context, deploymentID string, p deploy.Page) ([]*deploy.Run, string, error) {
	op := "list runs of " + deploymentID
	limit, err := record.Limit(p)
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :run)"),
		ExpressionAttributeValues: item{":pk": str(pfxDeployment + deploymentID), ":run": str(pfxRun)},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(limit + 1)),
	}
	if p.Cursor != "" {
		after, err := record.DecodeCursor(p.Cursor, record.ListRuns, deploymentID)
		if err != nil {
			return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
		}
		in.ExclusiveStartKey = runKey(deploymentID, after)
	}
	now := s.opt.Now()
	var rs []*deploy.Run
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", wrap(op, err)
		}
		for _, it := range out.Items {
			r, err := decodeRun(it)
			if err != nil {
				return nil, "", fmt.Errorf("dynamo: %s: %w", op, err)
			}
			if expiredItem(it, now) || record.Expired(r.ExpiresAt, now) {
				continue
			}
			if len(rs) == limit {
				return rs, record.EncodeCursor(record.ListRuns, deploymentID, rs[len(rs)-1].ID), nil
			}
			rs = append(rs, r)
		}
		if out.LastEvaluatedKey == nil {
			return rs, "", nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// ActiveRun implements deploy.RunStore.
func (s *Store) ActiveRun(ctx context.Context, deploymentID string) (*deploy.Run, error) {
	op := "active run of " + deploymentID
	lock, err := s.getItem(ctx, op, activeKey(deploymentID))
	if err != nil {
		return nil, err
	}
	if lock == nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("deployment %s has no active run", deploymentID))
	}
	return s.getRun(ctx, op, deploymentID, getS(lock, attrRun))
}

// --- idempotency and tokens ---

func (s *Store) idemItem(rec deploy.IdempotencyRecord) (item, error) {
	b, err := record.EncodeJSON("idempotency record", rec)
	if err != nil {
		return nil, err
	}
	it := idemKey(rec.Key)
	it[attrDoc] = str(string(b))
	it[attrStatus] = num(int64(rec.Status))
	if !rec.ExpiresAt.IsZero() {
		it[AttrTTL] = ttlValue(rec.ExpiresAt)
	}
	return it, nil
}

func decodeIdem(it item) (*deploy.IdempotencyRecord, error) {
	var rec deploy.IdempotencyRecord
	if err := record.DecodeJSON("idempotency record", []byte(getS(it, attrDoc)), &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// liveIdem reports whether a stored record still holds its key at now.
func liveIdem(it item, now time.Time) bool {
	if it == nil || expiredItem(it, now) {
		return false
	}
	rec, err := decodeIdem(it)
	return err != nil || !record.Expired(rec.ExpiresAt, now)
}

// PutIdempotency implements deploy.IdempotencyStore. An expired record no
// longer holds its key.
func (s *Store) PutIdempotency(ctx context.Context, rec deploy.IdempotencyRecord) error {
	op := "put idempotency record " + rec.Key
	if rec.Key == "" {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("key", "is required"))
	}
	it, err := s.idemItem(rec)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	now := s.opt.Now()
	used := deploy.Conflict("key", "idempotency key %s is already used", rec.Key)
	var stale item
	err = s.putIf(ctx, op, it, "attribute_not_exists(PK) OR #ttl <= :now", map[string]string{"#ttl": AttrTTL},
		item{":now": num(now.Unix())}, func(old item) error {
			if old != nil && !liveIdem(old, now) {
				stale = old
			}
			return used
		})
	if stale != nil {
		// Expired within its last second (the ttl is whole seconds):
		// replace it if it is still the same item.
		return s.replaceIdem(ctx, op, it, stale, used)
	}
	return err
}

// replaceIdem writes it over old if old is still what is stored.
func (s *Store) replaceIdem(ctx context.Context, op string, it, old item, conflict error) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      it,
		ConditionExpression:       aws.String("doc = :doc"),
		ExpressionAttributeValues: item{":doc": old[attrDoc]},
	})
	if _, ok := conditionFailed(err); ok {
		return fmt.Errorf("dynamo: %s: %w", op, conflict)
	}
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// CompleteIdempotency implements deploy.IdempotencyStore.
func (s *Store) CompleteIdempotency(ctx context.Context, rec deploy.IdempotencyRecord) error {
	op := "complete idempotency record " + rec.Key
	it, err := s.idemItem(rec)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	now := s.opt.Now()
	return s.putIf(ctx, op, it, "attribute_exists(PK) AND #status = :pending AND (attribute_not_exists(#ttl) OR #ttl > :now)",
		map[string]string{"#ttl": AttrTTL, "#status": attrStatus},
		item{":now": num(now.Unix()), ":pending": num(0)}, func(old item) error {
			if !liveIdem(old, now) {
				return deploy.NotFound("idempotency key %s not found", rec.Key)
			}
			st, _ := getN(old, attrStatus)
			return deploy.Conflict("key", "idempotency key %s already has its response (status %d)", rec.Key, st)
		})
}

// DeleteIdempotency implements deploy.IdempotencyStore.
func (s *Store) DeleteIdempotency(ctx context.Context, key string) error {
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: idemKey(key)}); err != nil {
		return wrap("delete idempotency record "+key, err)
	}
	return nil
}

// GetIdempotency implements deploy.IdempotencyStore.
func (s *Store) GetIdempotency(ctx context.Context, key string) (*deploy.IdempotencyRecord, error) {
	op := "get idempotency record " + key
	it, err := s.getItem(ctx, op, idemKey(key))
	if err != nil {
		return nil, err
	}
	if !liveIdem(it, s.opt.Now()) {
		return nil, fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("idempotency key %s not found", key))
	}
	rec, err := decodeIdem(it)
	if err != nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, err)
	}
	return rec, nil
}

// PutToken implements deploy.TokenStore.
func (s *Store) PutToken(ctx context.Context, t deploy.Token) error {
	op := "put token of " + t.User
	if t.Hash == "" {
		return fmt.Errorf("dynamo: %s: %w", op, deploy.Invalid("hash", "is required"))
	}
	b, err := record.EncodeJSON("token", t)
	if err != nil {
		return fmt.Errorf("dynamo: %s: %w", op, err)
	}
	it := tokenKey(t.Hash)
	it[attrDoc] = str(string(b))
	return s.putIf(ctx, op, it, "attribute_not_exists(PK)", nil, nil, func(item) error {
		return deploy.Conflict("hash", "a token with this hash already exists")
	})
}

// GetToken implements deploy.TokenStore.
func (s *Store) GetToken(ctx context.Context, hash string) (*deploy.Token, error) {
	op := "get token"
	it, err := s.getItem(ctx, op, tokenKey(hash))
	if err != nil {
		return nil, err
	}
	if it == nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, deploy.NotFound("token not found"))
	}
	var t deploy.Token
	if err := record.DecodeJSON("token", []byte(getS(it, attrDoc)), &t); err != nil {
		return nil, fmt.Errorf("dynamo: %s: %w", op, err)
	}
	return &t, nil
}
