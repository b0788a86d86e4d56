// Package e2e holds the end-to-end tests of the local product: `edenctl
// serve` started as a child process, driven through HTTP only, deploying
// to SSH test hosts (network namespaces with their own sshd) with the
// recording test roles. It has no code of its own.
package e2e
