package runner

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// A failure's message is one line of at most maxMessage bytes. A longer
// one keeps its first headBytes and its end: programs say why they failed
// last (a Python traceback ends with the exception), so cutting the end
// off, as a plain cap does, loses the cause. The callback plugin
// (infra/ansible/callback_plugins/eden_results.py) writes messages the same
// way, in characters; the tests hold the two to the same cases.
const (
	maxMessage = 600
	headBytes  = 150
	elision    = " [...] "
	tailBytes  = 300
)

// exceptionLine is a line that names an error ("TypeError: ...",
// "psycopg2.OperationalError: ..."); exceptionName the exception line that
// follows a traceback's frames, whatever the exception's name.
var (
	exceptionLine  = regexp.MustCompile(`^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning))(: .*)?$`)
	exceptionName  = regexp.MustCompile(`^[A-Za-z_][\w.]*(: .*)?$`)
	bareSystemExit = regexp.MustCompile(`^SystemExit(: \d+)?$`)
)

const tracebackHeader = "Traceback (most recent call last):"

// FailureMessage is the most telling line of a failed or unreachable task
// result as Ansible reports it (the JSON after "FAILED! =>"): for a command
// that exited non-zero, the exception it raised and the end of its output;
// otherwise the module's message.
func FailureMessage(res map[string]any) string {
	str := func(k string) string { s, _ := res[k].(string); return s }
	msg, stderr, stdout := str("msg"), str("stderr"), str("stdout")
	if _, isCommand := res["rc"]; isCommand && (stderr != "" || stdout != "") && (msg == "" || msg == "non-zero return code") {
		cause := lastException(stderr, stdout)
		out := stderr
		if out == "" {
			out = stdout
		}
		end := tail(out)
		text := fmt.Sprintf("exit status %d", intOf(res["rc"]))
		if cause != "" {
			text += ": " + cause
		}
		if cause == "" || !strings.Contains(end, cause) {
			text += "; output ends: " + end
		}
		return oneLine(text)
	}
	for _, k := range []string{"msg", "stderr", "reason", "module_stderr", "stdout"} {
		if v := str(k); v != "" {
			return oneLine(v)
		}
	}
	if items, ok := res["results"].([]any); ok { // a loop: the first failed item's
		for _, it := range items {
			if m, ok := it.(map[string]any); ok && m["failed"] == true {
				return FailureMessage(m)
			}
		}
	}
	if _, ok := res["rc"]; ok {
		return fmt.Sprintf("exit status %d", intOf(res["rc"]))
	}
	return "failed"
}

// lastException returns the exception of the last Python traceback in the
// first text that has one ("TypeError: ...", "psycopg2.errors.UndefinedTable:
// ..."): the first unindented line after the last "Traceback (most recent
// call last):". Without a traceback, the last line that names an error
// ("...Error: ...") will do. A bare "SystemExit: 1" says nothing.
func lastException(texts ...string) string {
	for _, text := range texts {
		lines := strings.Split(text, "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.TrimSpace(lines[i]) != tracebackHeader {
				continue
			}
			for _, l := range lines[i+1:] {
				if l == "" || l[0] == ' ' || l[0] == '\t' {
					continue
				}
				l = strings.TrimSpace(l)
				if exceptionName.MatchString(l) && !bareSystemExit.MatchString(l) {
					return l
				}
				break
			}
		}
		for i := len(lines) - 1; i >= 0; i-- {
			l := strings.TrimSpace(lines[i])
			if exceptionLine.MatchString(l) && !bareSystemExit.MatchString(l) {
				return l
			}
		}
	}
	return ""
}

// tail is the end of s, whitespace collapsed, at most tailBytes.
func tail(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= tailBytes {
		return s
	}
	cut := len(s) - tailBytes
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return "..." + s[cut:]
}

// oneLine collapses whitespace; a text over maxMessage bytes keeps its
// start and its end, on rune boundaries.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxMessage {
		return s
	}
	head := headBytes
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	end := len(s) - (maxMessage - headBytes - len(elision))
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return s[:head] + elision + s[end:]
}

func intOf(v any) int {
	f, _ := v.(float64)
	return int(f)
}
