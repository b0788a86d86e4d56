//go:build race

package ssh_test

// The race detector's instrumentation retains memory per synchronisation
// event, so heap-growth bounds only hold without it.
const raceEnabled = true
