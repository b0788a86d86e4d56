package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	full := map[string]string{
		EnvTable: "t", EnvBucket: "b", EnvParameterPrefix: "/eden", EnvStateMachineARN: "arn:aws:states:eu-west-1:1:stateMachine:run",
		EnvDocumentName: "doc", EnvRunRetention: "2160h", EnvStepTimeout: "45m", EnvAdminClaim: "cognito:groups", EnvAdminGroup: "admin",
		EnvScheduleGroup: "eden-schedules", EnvScheduleTarget: "arn:aws:lambda:eu-west-1:1:function:schedule",
		EnvSchedulerRole: "arn:aws:iam::1:role/scheduler",
	}
	c, err := Load(API, env(full))
	if err != nil {
		t.Fatal(err)
	}
	if c.Table != "t" || c.Bucket != "b" || c.ParameterPrefix != "/eden" || c.RunRetention != 2160*time.Hour || c.AdminGroup != "admin" {
		t.Errorf("%+v", c)
	}
	if c.ScheduleGroup != "eden-schedules" || c.SchedulerRole != "arn:aws:iam::1:role/scheduler" || !strings.HasSuffix(c.ScheduleTarget, ":schedule") {
		t.Errorf("schedules: %+v", c)
	}
	if c.StepTimeout != 0 {
		t.Errorf("the api does not declare %s, but read it: %v", EnvStepTimeout, c.StepTimeout)
	}
	tests := []struct {
		name, fn string
		drop     string
		set      map[string]string
		want     string
	}{
		{"missing table", API, EnvTable, nil, "EDEN_TABLE is not set (the DynamoDB table's name)"},
		{"missing document", DispatchStep, EnvDocumentName, nil, "EDEN_DOCUMENT_NAME is not set"},
		{"bad prefix", StartRun, "", map[string]string{EnvParameterPrefix: "eden/"}, `EDEN_PARAMETER_PREFIX="eden/": must start with /`},
		{"bad duration", FinishRun, "", map[string]string{EnvStepTimeout: "an hour"}, `EDEN_STEP_TIMEOUT="an hour"`},
		{"bad arn", Lifecycle, "", map[string]string{EnvStateMachineARN: "run"}, "is not an ARN"},
		{"missing schedule group", API, EnvScheduleGroup, nil, "EDEN_SCHEDULE_GROUP is not set"},
		{"bad scheduler role", API, "", map[string]string{EnvSchedulerRole: "scheduler"}, `EDEN_SCHEDULER_ROLE_ARN="scheduler": is not an ARN`},
		{"unknown function", "Nope", "", nil, `no function "Nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range full {
				m[k] = v
			}
			delete(m, tc.drop)
			for k, v := range tc.set {
				m[k] = v
			}
			_, err := Load(tc.fn, env(m))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// Every function declares only known variables, and the task functions
// exactly those tasks need.
func TestFunctionsDeclareKnownVariables(t *testing.T) {
	for id, fn := range Functions {
		if fn.LogicalID != id {
			t.Errorf("%s has LogicalID %s", id, fn.LogicalID)
		}
		for _, v := range fn.Env {
			if _, ok := Vars[v]; !ok {
				t.Errorf("%s reads unknown variable %s", id, v)
			}
		}
		if _, ok := IAM[id]; !ok {
			t.Errorf("%s has no IAM entry", id)
		}
	}
}
