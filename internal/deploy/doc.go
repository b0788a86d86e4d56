// Package deploy is the domain of Eden Deploy: deployments of Sahana Eden,
// their servers and instances, the runs that change them, the rules that
// keep them consistent, and the ports (small interfaces) through which the
// use cases reach storage, workflow, runners, blobs and secrets.
//
// It imports nothing from AWS. Every rule that fails returns an *Error of
// kind Invalid or Conflict whose Field and Reason say what and why.
package deploy
