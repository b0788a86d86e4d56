package runner

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// RecapScanner rebuilds per-host results from the default stdout
// callback's output, for when the plugin's JSON file is missing (an older
// bundle, a crash before the stats): PLAY RECAP lines give the counts;
// "TASK [...]" headers and "fatal: [host]: FAILED!/UNREACHABLE! => {...}"
// lines give each host's failure. The output cannot tell a failure that a
// block rescued from one that stopped the host, but the one that stopped it
// is always the host's last (nothing runs on a host after it), so the last
// failure not followed by "...ignoring" is the one reported. Feed it every
// line, in order. Not safe for concurrent use.
type RecapScanner struct {
	task     string
	inRecap  bool
	failures map[string][]Failure
	lastHost string // the host of the last fatal line, for "...ignoring"
	recap    []HostReport
	lastErr  string
}

// LastError returns the last "ERROR! ..." line Ansible printed (why it
// stopped before running anything, typically), or "".
func (s *RecapScanner) LastError() string { return s.lastErr }

var (
	taskLine  = regexp.MustCompile(`^(?:TASK|RUNNING HANDLER) \[(.*)\] \**\s*$`)
	fatalLine = regexp.MustCompile(`^fatal: \[([^\]]+)\]: (FAILED|UNREACHABLE)! => (.*)$`)
	recapLine = regexp.MustCompile(`^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)(?:\s+skipped=(\d+))?(?:\s+rescued=(\d+))?(?:\s+ignored=(\d+))?`)
)

// Line takes one line of output (without its newline).
func (s *RecapScanner) Line(line string) {
	line = strings.TrimRight(line, "\r")
	if s.failures == nil {
		s.failures = map[string][]Failure{}
	}
	if strings.HasPrefix(line, "ERROR! ") {
		s.lastErr = oneLine(line)
	}
	if strings.HasPrefix(line, "PLAY RECAP ") {
		s.inRecap = true
		s.recap = nil
		return
	}
	if s.inRecap {
		if m := recapLine.FindStringSubmatch(line); m != nil {
			n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
			s.recap = append(s.recap, HostReport{Host: m[1], OK: n(2), Changed: n(3), Unreachable: n(4), Failures: n(5), Skipped: n(6), Rescued: n(7), Ignored: n(8)})
			return
		}
		if strings.TrimSpace(line) != "" {
			s.inRecap = false
		}
		return
	}
	if m := taskLine.FindStringSubmatch(line); m != nil {
		s.task = m[1]
		return
	}
	if strings.TrimSpace(line) == "...ignoring" {
		if fs := s.failures[s.lastHost]; len(fs) > 0 {
			s.failures[s.lastHost] = fs[:len(fs)-1]
		}
		s.lastHost = ""
		return
	}
	if m := fatalLine.FindStringSubmatch(line); m != nil {
		host, _, _ := strings.Cut(m[1], " -> ") // delegated: "h -> other"
		var res map[string]any
		_ = json.Unmarshal([]byte(m[3]), &res)
		msg := FailureMessage(res)
		s.lastHost = host
		s.failures[host] = append(s.failures[host], Failure{Task: s.task, Msg: msg, Unreachable: m[2] == "UNREACHABLE"})
	}
}

// Results returns what the recap said, with each failed host's first
// failure (the one that stopped it), or nil when no PLAY RECAP was seen.
func (s *RecapScanner) Results() *Results {
	if s.recap == nil {
		return nil
	}
	r := &Results{Version: 1}
	for _, h := range s.recap {
		if fs := s.failures[h.Host]; len(fs) > 0 && (h.Failures > 0 || h.Unreachable > 0) {
			f := fs[len(fs)-1]
			h.FirstFailure = &f
		}
		r.Hosts = append(r.Hosts, h)
	}
	return r
}
