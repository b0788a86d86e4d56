// Package dynamo implements deploy.Store in one DynamoDB table (single-table
// design), for the AWS control plane.
//
// # Table (for template.yaml)
//
//	AttributeDefinitions  PK S, SK S, GSI1PK S, GSI1SK S, GSI2PK S, GSI2SK S
//	KeySchema             PK HASH, SK RANGE
//	GlobalSecondaryIndexes
//	  GSI1  GSI1PK HASH, GSI1SK RANGE, Projection ALL   (an owner's deployments)
//	  GSI2  GSI2PK HASH, GSI2SK RANGE, Projection ALL   (everyone's deployments)
//	BillingMode           PAY_PER_REQUEST
//	TimeToLiveSpecification  AttributeName ttl, Enabled true
//
// The names are the exported constants AttrPK, AttrSK, IndexOwner (GSI1),
// AttrGSI1PK, AttrGSI1SK, IndexAll (GSI2), AttrGSI2PK, AttrGSI2SK and
// AttrTTL; TableSchema returns the same as a CreateTable input.
//
// # Items
//
//	PK               SK          what                      other attributes
//	DEP#<id>         META        the deployment            doc, enc, ver, owner, GSI1PK=OWNER#<owner>,
//	                                                       GSI1SK=GSI2SK=<created>#<id>, GSI2PK=DEPLOYMENTS
//	DEP#<id>         ACTIVE      lock: the one active run  run
//	DEP#<id>         RUN#<runID> a run                     doc, enc, ver, status, ttl (once finished)
//	DEP#<id>         BACKUP#<stamp>#<type>  a backup record  doc, enc (see backups.go)
//	HOST#<host>      CLAIM       host belongs to dep       dep, server
//	IID#<instance>   CLAIM       EC2 instance belongs      dep, host, server
//	IDEM#<key>       IDEM        idempotency record        doc, status, ttl
//	TOKEN#<hash>     TOKEN       local API token           doc
//	ACCOUNT#<email>  ACCOUNT     local account (accounts.go) doc, ver, GSI2PK=ACCOUNTS, GSI2SK=<created>#<email>
//
// doc is the record's JSON (package record), gzip-compressed when larger
// than 8 KiB (enc says which). <created> is record.CreatedKey: fixed-width
// UTC time, so GSI sort keys order by creation time, then ID.
//
// # Access patterns (no Scan anywhere; reads are GetItem and Query)
//
//	GetDeployment              GetItem DEP#id/META (consistent)
//	ListDeployments(owner)     Query GSI1 GSI1PK=OWNER#owner, descending
//	ListDeployments("")        Query GSI2 GSI2PK=DEPLOYMENTS, descending
//	FindServerByHost           GetItem HOST#host/CLAIM
//	FindServerByInstanceID     GetItem IID#id/CLAIM
//	GetRun                     GetItem DEP#id/RUN#runID (consistent)
//	ListRuns                   Query PK=DEP#id, begins_with(SK, "RUN#"), descending (consistent)
//	ListBackups                Query PK=DEP#id, begins_with(SK, "BACKUP#"), descending (consistent)
//	ActiveRun                  GetItem DEP#id/ACTIVE, then GetItem of its run
//	DeleteDeployment (rest)    Query PK=DEP#id (keys only), then BatchWriteItem deletes;
//	                           first GetItem DEP#id/RELEASE (consistent) only if this
//	                           delete wrote that record or found the deployment gone
//	idempotency, tokens        GetItem
//
// Runs list by run ID, which deploy.NewID makes grow with creation time.
// The GSIs are eventually consistent on DynamoDB: a deployment may show up
// in a listing a moment after CreateDeployment returns.
//
// # Invariants
//
// Single conditional writes (these work on peers without transactions):
//
//   - UpdateDeployment: PutItem META if ver = the caller's version;
//   - UpdateRun that does not finish an active run: PutItem RUN# if ver
//     matches (the status move is checked against the item read, which the
//     version pins);
//   - PutIdempotency: PutItem if attribute_not_exists(PK) or its ttl passed;
//     CompleteIdempotency: PutItem if the stored record is pending;
//   - PutToken: PutItem if attribute_not_exists(PK).
//
// TransactWriteItems (all or nothing), with a condition per item:
//
//   - CreateDeployment: META, first RUN#, ACTIVE (attribute_not_exists),
//     HOST#/IID# claims (attribute_not_exists);
//   - CreateRun: ConditionCheck META exists, ACTIVE if the run is active,
//     RUN# (attribute_not_exists);
//   - UpdateRun that finishes an active run: RUN# (ver) and Delete ACTIVE
//     (if it holds this run), releasing the slot in the same write;
//   - AddInstance: META (ver; the instance type is checked against the
//     item read, which the version pins), ACTIVE, RUN#;
//   - AddServer / RemoveServer: META (ver) and the HOST#/IID# claims;
//   - DeleteDeployment: META (ver), ACTIVE and the claims; its runs are
//     deleted afterwards (BatchWriteItem): once META is gone nothing can
//     be added under it, and a failed cleanup is finished by the next
//     DeleteDeployment of the same ID.
//
// A failed condition is a deploy Conflict naming the invariant ("host
// 10.0.0.5 already belongs to deployment d-..."), from the item returned by
// ReturnValuesOnConditionCheckFailure (ALL_OLD) or the transaction's
// CancellationReasons; a missing item is NotFound; a TransactionConflict
// (another transaction on the same item) is Conflict too. Throttling is
// retried by the SDK's standard retryer (Options.MaxAttempts); if it
// persists it is Transient. Anything else is wrapped with the operation.
//
// # Size
//
// DynamoDB items are at most 400 KB. Deployments and runs are stored as one
// doc each, gzip-compressed above 8 KiB; a doc whose stored form exceeds
// MaxDocBytes (380 000 bytes) is refused as Invalid rather than sent. Host
// results compress well: TestLargeRunFits stores a run of 40 steps × 250
// hosts (10 000 host results with one-line reasons, 1.6 MB of JSON) in
// 158 KB, so the bound is roughly 20 000 host results per run. A
// transaction holds at most 100 items, so a deployment is created with at
// most 48 servers that have instance IDs (more join later, one AddServer at
// a time). Deleting a deployment with more claims than that removes it with
// as many claims as fit and a release record (SK RELEASE) listing the rest,
// then releases those; if that is interrupted, deleting it again (which
// answers NotFound) finishes the job.
//
// # TTL
//
// A finished run gets ExpiresAt = FinishedAt + Options.Retention and ttl =
// its epoch seconds; idempotency records carry their ExpiresAt as ttl.
// DynamoDB deletes expired items lazily (within days), so GetRun, ListRuns,
// GetIdempotency and the idempotency writes treat an item whose ttl has
// passed as gone.
package dynamo
