// Package store is the home of the adapters that implement deploy.Store:
//
//   - bolt: one bbolt file, for the local control plane (edenctl serve);
//   - dynamo: one DynamoDB table (single-table design), for AWS;
//   - record: the stored form of deployments and runs and the opaque page
//     cursors, shared by both so that they store and page alike;
//   - storetest: the conformance suite both adapters pass.
//
// No business rule lives here: the adapters keep the invariants the port
// names (one active run per deployment, one instance per type, a host in at
// most one deployment, one record per idempotency key, versions) and report
// broken ones as deploy errors of kind Conflict.
package store
