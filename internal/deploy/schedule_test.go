package deploy

import (
	"strings"
	"testing"
	"time"
)

func TestParseCron(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		expr, tz, after string
		want            []string // next fire times (UTC)
		bad             string   // field of the Invalid error
	}{
		{expr: "0 3 * * *", after: "2026-03-01T02:00:00Z", want: []string{"2026-03-01T03:00:00Z", "2026-03-02T03:00:00Z"}},
		// 03:00 in Berlin is 02:00 UTC in winter and 01:00 UTC in summer.
		{expr: "0 3 * * *", tz: "Europe/Berlin", after: "2026-03-28T00:00:00Z", want: []string{"2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z"}},
		{expr: "30 2 * * SUN", after: "2026-03-01T00:00:00Z", want: []string{"2026-03-01T02:30:00Z", "2026-03-08T02:30:00Z"}},
		{expr: "0 0 1 * ?", after: "2026-03-05T00:00:00Z", want: []string{"2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"}},
		{expr: "@daily", after: "2026-03-01T12:00:00Z", want: []string{"2026-03-02T00:00:00Z"}},
		{expr: "*/2 * * * * *", after: "2026-03-01T00:00:00Z", want: []string{"2026-03-01T00:00:02Z", "2026-03-01T00:00:04Z"}},
		{expr: "", bad: "cron"},
		{expr: "0 3 * *", bad: "cron"},
		{expr: "0 3 1 * MON", bad: "cron"},
		{expr: "@every 5m", bad: "cron"},
		{expr: "CRON_TZ=UTC 0 3 * * *", bad: "cron"},
		{expr: "0 3 30 2 *", bad: "cron"}, // 30 February never comes
		{expr: "0 3 * * *", tz: "Mars/Olympus", bad: "time_zone"},
		{expr: "0 3 * * *", tz: "Local", bad: "time_zone"},
		{expr: "0 3 * * *", tz: "../../etc/passwd", bad: "time_zone"},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" "+tt.tz, func(t *testing.T) {
			c, err := ParseCron(tt.expr, tt.tz)
			if tt.bad != "" {
				var e *Error
				if !isErr(err, &e) || e.Kind != KindInvalid || e.Field != tt.bad {
					t.Fatalf("ParseCron(%q, %q) = %v, want Invalid %s", tt.expr, tt.tz, err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := c.NextN(at(tt.after), len(tt.want))
			for i, w := range tt.want {
				if i >= len(got) || !got[i].Equal(at(w)) {
					t.Fatalf("next fires after %s = %v, want %v", tt.after, got, tt.want)
				}
			}
		})
	}
}

func isErr(err error, e **Error) bool {
	es := FieldErrors(err)
	if len(es) == 0 {
		return false
	}
	*e = es[0]
	return true
}

func TestCronLatest(t *testing.T) {
	c, err := ParseCron("0 * * * *", "")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		upTo     time.Duration
		wantLast time.Duration
		wantN    int
	}{
		{30 * time.Minute, 0, 0},
		{time.Hour, time.Hour, 1},
		{5*time.Hour + 59*time.Minute, 5 * time.Hour, 5},
	}
	for _, tt := range tests {
		last, n := c.Latest(from, from.Add(tt.upTo))
		var want time.Time
		if tt.wantLast > 0 {
			want = from.Add(tt.wantLast)
		}
		if !last.Equal(want) || n != tt.wantN {
			t.Errorf("Latest up to +%s = %s, %d; want %s, %d", tt.upTo, last, n, want, tt.wantN)
		}
	}
}

func TestNewSchedule(t *testing.T) {
	d := &Deployment{ID: "d-1", Name: "Relief", Instances: []Instance{{Type: InstanceProd}, {Type: InstanceTest}}}
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		spec ScheduleSpec
		kind Kind
		f    string
	}{
		{"backup of prod", ScheduleSpec{Instance: InstanceProd, Task: RunBackup, Cron: "0 3 * * *"}, "", ""},
		{"clean of test", ScheduleSpec{Instance: InstanceTest, Task: RunClean, Cron: "0 4 * * MON", TimeZone: "Asia/Colombo"}, "", ""},
		{"reconfigure", ScheduleSpec{Instance: InstanceProd, Task: RunReconfigure, Cron: "@monthly"}, "", ""},
		{"clean of prod", ScheduleSpec{Instance: InstanceProd, Task: RunClean, Cron: "0 3 * * *"}, KindInvalid, "task"},
		{"deploy", ScheduleSpec{Instance: InstanceProd, Task: RunDeploy, Cron: "0 3 * * *"}, KindInvalid, "task"},
		{"no task", ScheduleSpec{Instance: InstanceProd, Cron: "0 3 * * *"}, KindInvalid, "task"},
		{"missing instance", ScheduleSpec{Instance: InstanceDemo, Task: RunBackup, Cron: "0 3 * * *"}, KindNotFound, ""},
		{"unknown instance", ScheduleSpec{Instance: "staging", Task: RunBackup, Cron: "0 3 * * *"}, KindInvalid, "instance"},
		{"bad cron", ScheduleSpec{Instance: InstanceProd, Task: RunBackup, Cron: "at three"}, KindInvalid, "cron"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSchedule(d, tt.spec, "s-1", "alice", now)
			if tt.kind == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.TimeZone == "" || !s.Since.Equal(now) || s.DeploymentID != "d-1" || s.CreatedBy != "alice" {
					t.Errorf("schedule %+v", s)
				}
				return
			}
			if KindOf(err) != tt.kind {
				t.Fatalf("err %v, want kind %s", err, tt.kind)
			}
			if tt.f != "" {
				if es := FieldErrors(err); len(es) == 0 || es[0].Field != tt.f {
					t.Errorf("err %v, want field %s", err, tt.f)
				}
			}
		})
	}
}

func TestCheckWebhookURL(t *testing.T) {
	self := []string{"http://127.0.0.1:8080", "abc123.execute-api.us-east-1.amazonaws.com"}
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://hooks.example.org/eden", true},
		{"http://127.0.0.1:9999/hook", true}, // another port of this machine
		{"http://[::1]:9999/hook", true},
		{"ftp://example.org/x", false},
		{"file:///etc/passwd", false},
		{"javascript:alert(1)", false},
		{"/relative", false},
		{"https://user:pw@example.org/x", false},
		{"http://127.0.0.1:8080/v1/deployments", false},
		{"http://localhost:8080/x", false},
		{"http://[::1]:8080/x", false},
		{"http://0.0.0.0:8080/x", false},
		{"https://abc123.execute-api.us-east-1.amazonaws.com/v1/x", false},
		{"https://ABC123.execute-api.us-east-1.amazonaws.com./v1/x", false},
		{"https://example.org/#frag", false},
		{"https://" + strings.Repeat("a", 2100) + ".org/", false},
	}
	for _, tt := range tests {
		err := CheckWebhookURL(tt.url, self)
		if (err == nil) != tt.ok {
			t.Errorf("CheckWebhookURL(%q) = %v, want ok %v", tt.url, err, tt.ok)
		}
		if err != nil && KindOf(err) != KindInvalid {
			t.Errorf("CheckWebhookURL(%q): kind %s, want invalid", tt.url, KindOf(err))
		}
	}
}

func TestNotices(t *testing.T) {
	end := time.Date(2026, 3, 1, 3, 0, 9, 0, time.UTC)
	d := &Deployment{ID: "d-1", Name: "Relief"}
	r := &Run{ID: "r-1", DeploymentID: "d-1", Kind: RunBackup, Instance: InstanceProd, Status: RunFailed,
		Error: "step all failed: boom", Requester: ScheduleRequester("s-7"), CreatedAt: end.Add(-9 * time.Second), FinishedAt: end,
		Steps: []Step{{Name: "all", Status: StepFailed, Results: []HostResult{
			{Host: "10.0.0.1", OK: 3},
			{Host: "10.0.0.2", Failed: 1, Reason: `task "eden : dump \"db\"" failed: pg_dump: error`},
		}}}}
	n := RunEndedNotice(d, r, "https://api.example.org/")
	if n.Type != NoticeRunEnded || n.Status != "failed" || n.Kind != "backup" || n.Deployment.Name != "Relief" || n.Run.ScheduleID != "s-7" {
		t.Errorf("notice %+v", n)
	}
	want := NoticeFailure{Step: "all", Host: "10.0.0.2", Task: `eden : dump "db"`, Reason: `task "eden : dump \"db\"" failed: pg_dump: error`}
	if n.Failed == nil || *n.Failed != want {
		t.Errorf("failure %+v, want %+v", n.Failed, want)
	}
	if n.Links["log"] != "https://api.example.org/v1/deployments/d-1/runs/r-1/log" {
		t.Errorf("links %v", n.Links)
	}
	if again := RunEndedNotice(d, r, ""); again.ID != n.ID || !strings.HasPrefix(again.Links["run"], "/v1/") {
		t.Errorf("the same end must give the same ID (%s, %s) and paths without a base (%v)", n.ID, again.ID, again.Links)
	}
	a := LifecycleAction{GroupName: "g", HookName: "h", Token: "tok", InstanceID: "i-0abc12345", Transition: "autoscaling:EC2_INSTANCE_LAUNCHING"}
	ab := LifecycleAbandonedNotice("d-1", nil, a, nil, "malformed metadata", end, "")
	if ab.Type != NoticeLifecycleAbandoned || ab.Status != "abandoned" || ab.Run != nil || ab.Lifecycle.Reason != "malformed metadata" {
		t.Errorf("abandoned notice %+v", ab)
	}
}
