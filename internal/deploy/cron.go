package deploy

import (
	"strings"
	"time"
	_ "time/tzdata" // time zones by name on hosts without a zoneinfo database (Lambda)

	"github.com/robfig/cron/v3"
)

// Cron is a parsed cron expression in a time zone: when a schedule fires.
//
// The expression has five fields (minute hour day-of-month month
// day-of-week), or six with a leading seconds field, or is one of @yearly,
// @annually, @monthly, @weekly, @daily, @midnight and @hourly. Fields take
// numbers, names (JAN-DEC, SUN-SAT), *, ?, ranges (a-b), steps (*/n, a/n,
// a-b/n) and lists (a,b). Day-of-week counts from 0 (Sunday) to 6.
//
// Two limits keep one expression meaning the same on both control planes
// (the local scheduler and EventBridge Scheduler, whose cron has neither):
// day-of-month and day-of-week may not both be restricted (one of them is
// * or ?), and @every intervals are refused. EventBridge Scheduler fires
// at minute granularity, so the AWS plane also refuses a seconds field
// other than 0 (see internal/trigger/aws).
type Cron struct {
	expr  string
	loc   *time.Location
	sched *cron.SpecSchedule
}

var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses expr in the IANA time zone tz ("" is UTC). Errors are
// Invalid, naming the field "cron" or "time_zone".
func ParseCron(expr, tz string) (*Cron, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case expr == "":
		return nil, Invalid("cron", "is required, such as \"0 3 * * *\" (03:00 every day)")
	case len(expr) > 200:
		return nil, Invalid("cron", "at most 200 characters")
	case strings.HasPrefix(expr, "@every"):
		return nil, Invalid("cron", "@every intervals are not supported: write the times as a cron expression")
	case strings.Contains(expr, "TZ="):
		return nil, Invalid("cron", "name the time zone in time_zone, not in the expression")
	}
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" || len(tz) > 64 {
		return nil, Invalid("time_zone", "%q is not an IANA time zone name such as Europe/Berlin", tz)
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, Invalid("cron", "%s", err.Error())
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, Invalid("cron", "not a calendar expression")
	}
	if f := CronFields(expr); len(f) >= 5 {
		dom, dow := f[len(f)-3], f[len(f)-1]
		if restricted(dom) && restricted(dow) {
			return nil, Invalid("cron", "day-of-month (%s) and day-of-week (%s) cannot both be restricted: set one of them to * or ?", dom, dow)
		}
	}
	spec.Location = loc
	c := &Cron{expr: expr, loc: loc, sched: spec}
	if c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, Invalid("cron", "%q never fires", expr)
	}
	return c, nil
}

func restricted(field string) bool { return field != "*" && field != "?" }

// CronFields returns the fields of expr with the descriptors spelled out
// as five fields (@daily is "0 0 * * *"), or nil for an unknown
// descriptor.
func CronFields(expr string) []string {
	switch strings.TrimSpace(expr) {
	case "@yearly", "@annually":
		return []string{"0", "0", "1", "1", "*"}
	case "@monthly":
		return []string{"0", "0", "1", "*", "*"}
	case "@weekly":
		return []string{"0", "0", "*", "*", "0"}
	case "@daily", "@midnight":
		return []string{"0", "0", "*", "*", "*"}
	case "@hourly":
		return []string{"0", "*", "*", "*", "*"}
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "@") {
		return nil
	}
	return strings.Fields(expr)
}

// String returns the expression as given.
func (c *Cron) String() string { return c.expr }

// Location is the expression's time zone.
func (c *Cron) Location() *time.Location { return c.loc }

// Next returns the first time the expression fires strictly after t (in
// UTC), or the zero time if it never does again.
func (c *Cron) Next(t time.Time) time.Time {
	n := c.sched.Next(t.In(c.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// NextN returns the next n fire times after t.
func (c *Cron) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for len(out) < n {
		t = c.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// maxSlots bounds the fire times Latest walks through (a per-second
// schedule over 11 days).
const maxSlots = 1_000_000

// Latest returns the last fire time in (after, upTo] and how many fire
// times fell in that interval (walking at most maxSlots of them). The zero
// time and 0 mean none.
func (c *Cron) Latest(after, upTo time.Time) (time.Time, int) {
	var last time.Time
	n := 0
	for t := c.Next(after); !t.IsZero() && !t.After(upTo) && n < maxSlots; t = c.Next(t) {
		last = t
		n++
	}
	return last, n
}
