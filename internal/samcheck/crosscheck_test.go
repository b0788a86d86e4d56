package samcheck

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/edendeploy/edendeploy/internal/config"
	"github.com/edendeploy/edendeploy/internal/lifecycle"
	"github.com/edendeploy/edendeploy/internal/notify"
	ssmrunner "github.com/edendeploy/edendeploy/internal/runner/ssm"
	"github.com/edendeploy/edendeploy/internal/store/dynamo"
	"github.com/edendeploy/edendeploy/internal/tasks"
	"github.com/edendeploy/edendeploy/statemachine"
)

func keys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ref(v any) string {
	if in, ok := v.(Intrinsic); ok && in.Name == "Ref" {
		s, _ := in.Arg.(string)
		return s
	}
	return ""
}

func getAtt(v any) string {
	if in, ok := v.(Intrinsic); ok && in.Name == "Fn::GetAtt" {
		if l, ok := in.Arg.([]any); ok && len(l) == 2 {
			return fmt.Sprintf("%v.%v", l[0], l[1])
		}
	}
	return ""
}

// TestFunctions checks every function of template.yaml against
// internal/config, its package and its build target in lambda.mk.
func TestFunctions(t *testing.T) {
	tpl := loadT(t, "template.yaml")
	fns := tpl.OfType("AWS::Serverless::Function")
	if diff := cmp.Diff(config.LogicalIDs(), fns); diff != "" {
		t.Fatalf("functions of template.yaml (+) and internal/config (-) differ:\n%s", diff)
	}
	glob, _ := Get(tpl.Root, "Globals", "Function").(map[string]any)
	for k, want := range map[string]any{"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap", "Tracing": "Active"} {
		if !reflect.DeepEqual(glob[k], want) {
			t.Errorf("Globals.Function.%s = %v, want %v", k, glob[k], want)
		}
	}
	for _, id := range fns {
		t.Run(id, func(t *testing.T) {
			fn := config.Functions[id]
			r := tpl.Resources()[id]
			if Get(r, "Metadata", "BuildMethod") != "makefile" {
				t.Errorf("Metadata.BuildMethod is not makefile")
			}
			p := tpl.Props(id)
			for _, k := range []string{"Runtime", "Architectures", "Handler"} {
				if _, ok := p[k]; ok {
					t.Errorf("%s overrides Globals", k)
				}
			}
			// The build target, as SAM runs it (stamping the build's
			// version and commit for GET /v1/version).
			cmd := exec.Command("make", "-s", "-n", "build-"+id, "ARTIFACTS_DIR=/artifacts", "VERSION=v9.9.9", "COMMIT=c0ffee")
			cmd.Dir = root(t)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n build-%s: %v\n%s", id, err, out)
			}
			want := fmt.Sprintf("CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -trimpath -ldflags='-s -w -X github.com/edendeploy/edendeploy/internal/buildinfo.version=v9.9.9 -X github.com/edendeploy/edendeploy/internal/buildinfo.commit=c0ffee' -o /artifacts/bootstrap ./%s", fn.Dir)
			if strings.TrimSpace(string(out)) != want {
				t.Errorf("make build-%s runs\n  %s\nwant\n  %s", id, strings.TrimSpace(string(out)), want)
			}
			// The package wires the function of this logical ID.
			if got := wiredFunction(t, filepath.Join(root(t), fn.Dir, "main.go")); got != id {
				t.Errorf("%s/main.go wires %q, want %q", fn.Dir, got, id)
			}
			// Environment: exactly what the loader reads.
			vars, _ := Get(p, "Environment", "Variables").(map[string]any)
			want2 := append([]string(nil), fn.Env...)
			sort.Strings(want2)
			if diff := cmp.Diff(want2, keys(vars)); diff != "" {
				t.Errorf("Environment.Variables (+) differ from what config.Load reads (-):\n%s", diff)
			}
			// Logs: JSON, into a log group of the template with a retention.
			lc, _ := p["LoggingConfig"].(map[string]any)
			if lc["LogFormat"] != "JSON" {
				t.Errorf("LoggingConfig.LogFormat = %v, want JSON", lc["LogFormat"])
			}
			checkLogGroup(t, tpl, ref(lc["LogGroup"]))
		})
	}
}

// wiredFunction returns the logical ID main.go passes to lambdafn.Main
// (a constant of internal/config).
func wiredFunction(t *testing.T, path string) string {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	for name, fn := range config.Functions {
		_ = fn
		consts[name] = name
	}
	var got string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Main" {
			if arg, ok := call.Args[0].(*ast.SelectorExpr); ok {
				got = configConst(t, arg.Sel.Name)
			}
		}
		return true
	})
	return got
}

// configConst resolves a constant name of internal/config by parsing it.
func configConst(t *testing.T, name string) string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join(root(t), "internal/config/config.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var val string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, id := range vs.Names {
			if id.Name == name && i < len(vs.Values) {
				if bl, ok := vs.Values[i].(*ast.BasicLit); ok {
					val = strings.Trim(bl.Value, `"`)
				}
			}
		}
		return true
	})
	return val
}

func checkLogGroup(t *testing.T, tpl *Template, id string) {
	t.Helper()
	r, ok := tpl.Resources()[id]
	if !ok || r["Type"] != "AWS::Logs::LogGroup" {
		t.Errorf("log group %q is not an AWS::Logs::LogGroup of the template", id)
		return
	}
	if Get(r, "Properties", "RetentionInDays") == nil {
		t.Errorf("log group %s has no RetentionInDays", id)
	}
}

// TestStateMachine checks the state machines: for each, every
// substitution of its definition defined and used, each the ARN of the
// task function its Go handlers serve under that name, and the role
// allowed to invoke exactly those functions.
func TestStateMachine(t *testing.T) {
	tpl := loadT(t, "template.yaml")
	machines := []struct {
		id, def   string
		functions []string
		handlers  map[string]any
	}{
		{"NotifyStateMachine", "statemachine/notify.asl.json", config.NotifyTaskFunctions, (&notify.Deliveries{}).Handlers()},
		{"RunStateMachine", "statemachine/run.asl.json", config.TaskFunctions, (&tasks.Tasks{}).Handlers()},
	}
	var ids []string
	for _, m := range machines {
		ids = append(ids, m.id)
	}
	if diff := cmp.Diff(ids, tpl.OfType("AWS::Serverless::StateMachine")); diff != "" {
		t.Fatalf("state machines of template.yaml (+):\n%s", diff)
	}
	for _, m := range machines {
		t.Run(m.id, func(t *testing.T) { checkStateMachine(t, tpl, m.id, m.def, m.functions, m.handlers) })
	}
}

func checkStateMachine(t *testing.T, tpl *Template, id, defPath string, functions []string, handlers map[string]any) {
	p := tpl.Props(id)
	if p["Type"] != "STANDARD" || p["DefinitionUri"] != defPath {
		t.Errorf("Type %v, DefinitionUri %v", p["Type"], p["DefinitionUri"])
	}
	def, err := os.ReadFile(filepath.Join(root(t), defPath))
	if err != nil {
		t.Fatal(err)
	}
	used := statemachine.Substitutions(def)
	subs, _ := p["DefinitionSubstitutions"].(map[string]any)
	if diff := cmp.Diff(used, keys(subs)); diff != "" {
		t.Errorf("DefinitionSubstitutions (+) and the ${...} of %s (-) differ:\n%s", defPath, diff)
	}
	if diff := cmp.Diff(used, keys(handlers)); diff != "" {
		t.Errorf("the Go handlers (+) and the ${...} of %s (-) differ:\n%s", defPath, diff)
	}
	var wantInvoke []string
	for _, fn := range functions {
		sub := fn + "Arn"
		if got := getAtt(subs[sub]); got != fn+".Arn" {
			t.Errorf("%s = %v, want !GetAtt %s.Arn", sub, subs[sub], fn)
		}
		if _, ok := handlers[sub]; !ok {
			t.Errorf("the Go handlers have no %s", sub)
		}
		wantInvoke = append(wantInvoke, fn+".Arn")
	}
	var gotInvoke []string
	for _, st := range statements(p) {
		if st.allows("lambda:InvokeFunction") {
			for _, r := range st.resources {
				gotInvoke = append(gotInvoke, getAtt(r))
			}
		}
	}
	sort.Strings(wantInvoke)
	sort.Strings(gotInvoke)
	if diff := cmp.Diff(wantInvoke, gotInvoke); diff != "" {
		t.Errorf("lambda:InvokeFunction resources (+) are not exactly the task functions (-):\n%s", diff)
	}
	if Get(p, "Tracing", "Enabled") != "true" {
		t.Errorf("Tracing.Enabled is not true")
	}
	lg, _ := p["Logging"].(map[string]any)
	if lg["IncludeExecutionData"] != "false" || (lg["Level"] != "ERROR" && lg["Level"] != "ALL") {
		t.Errorf("Logging %v", lg)
	}
	lgID, _, _ := strings.Cut(getAtt(Get(lg, "Destinations", "0", "CloudWatchLogsLogGroup", "LogGroupArn")), ".")
	checkLogGroup(t, tpl, lgID)
}

// TestTable checks the table against internal/store/dynamo's schema.
func TestTable(t *testing.T) {
	tpl := loadT(t, "template.yaml")
	tables := tpl.OfType("AWS::DynamoDB::Table")
	if len(tables) != 1 {
		t.Fatalf("want one table, have %v", tables)
	}
	p := tpl.Props(tables[0])
	// The store's CreateTable input, as the template would spell it.
	var want map[string]any
	b, _ := json.Marshal(dynamo.TableSchema("x"))
	_ = json.Unmarshal(b, &want)
	norm := func(v any) any {
		b, _ := json.Marshal(v)
		var out any
		_ = json.Unmarshal(b, &out)
		return prune(out)
	}
	for _, k := range []string{"AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"} {
		if diff := cmp.Diff(norm(want[k]), norm(p[k])); diff != "" {
			t.Errorf("%s differs from dynamo.TableSchema (-store +template):\n%s", k, diff)
		}
	}
	if Get(p, "TimeToLiveSpecification", "AttributeName") != dynamo.AttrTTL || Get(p, "TimeToLiveSpecification", "Enabled") != "true" {
		t.Errorf("TimeToLiveSpecification %v, want %s enabled", p["TimeToLiveSpecification"], dynamo.AttrTTL)
	}
	if Get(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != "true" || Get(p, "SSESpecification", "SSEEnabled") != "true" {
		t.Errorf("point-in-time recovery or SSE off")
	}
}

// TestEvents checks the EventBridge patterns against the handlers'.
func TestEvents(t *testing.T) {
	tpl := loadT(t, "template.yaml")
	ssmEv := Get(tpl.Props(config.SSMStatus), "Events", "CommandStatus", "Properties", "Pattern")
	if got := Get(ssmEv, "source", "0"); got != ssmrunner.EventSource {
		t.Errorf("ssm rule source %v", got)
	}
	if got := Get(ssmEv, "detail-type", "0"); got != ssmrunner.EventDetailType {
		t.Errorf("ssm rule detail-type %v, want %s", got, ssmrunner.EventDetailType)
	}
	if got := ref(Get(ssmEv, "detail", "document-name", "0")); got != "ApplyBundleDocument" {
		t.Errorf("ssm rule is not filtered to the apply-bundle document: %v", Get(ssmEv, "detail"))
	}
	rule := tpl.Props("LifecycleRule")
	if got := Get(rule, "EventPattern", "source", "0"); got != "aws.autoscaling" {
		t.Errorf("lifecycle rule source %v", got)
	}
	dts, _ := Get(rule, "EventPattern", "detail-type").([]any)
	if diff := cmp.Diff([]any{lifecycle.LaunchDetailType, lifecycle.TerminateDetailType}, dts); diff != "" {
		t.Errorf("lifecycle detail types:\n%s", diff)
	}
	if got := getAtt(Get(rule, "Targets", "0", "Arn")); got != "LifecycleQueue.Arn" {
		t.Errorf("lifecycle rule targets %v", got)
	}
	notifyEv := Get(tpl.Props("NotifyStateMachine"), "Events", "Notices", "Properties", "Pattern")
	if got := Get(notifyEv, "source", "0"); got != notify.Source {
		t.Errorf("notify rule source %v, want %s", got, notify.Source)
	}
	nts, _ := Get(notifyEv, "detail-type").([]any)
	if diff := cmp.Diff([]any{notify.DetailTypeRunEnded, notify.DetailTypeLifecycleAbd}, nts); diff != "" {
		t.Errorf("notify rule detail types:\n%s", diff)
	}
	esm := tpl.Props("LifecycleEventSource")
	if ref(esm["FunctionName"]) != config.Lifecycle || esm["BatchSize"] != "1" ||
		!reflect.DeepEqual(esm["FunctionResponseTypes"], []any{"ReportBatchItemFailures"}) {
		t.Errorf("LifecycleEventSource %v", esm)
	}
	if getAtt(Get(tpl.Props("LifecycleQueue"), "RedrivePolicy", "deadLetterTargetArn")) != "LifecycleDeadLetterQueue.Arn" {
		t.Errorf("lifecycle queue has no dead-letter queue")
	}
}

// TestOutputs checks the outputs a deployer needs.
func TestOutputs(t *testing.T) {
	tpl := loadT(t, "template.yaml")
	outs, _ := tpl.Root["Outputs"].(map[string]any)
	for _, k := range []string{"ApiUrl", "TableName", "BucketName", "StateMachineArn", "UserPoolId", "UserPoolClientId"} {
		if _, ok := outs[k]; !ok {
			t.Errorf("no output %s", k)
		}
	}
}

// TestFleetTemplate checks infra/fleet.yaml against what the lifecycle
// handler and the SendCommand policy expect.
func TestFleetTemplate(t *testing.T) {
	tpl := loadT(t, "infra/fleet.yaml")
	groups := tpl.OfType("AWS::AutoScaling::AutoScalingGroup")
	if len(groups) != 1 {
		t.Fatalf("want one group, have %v", groups)
	}
	g := tpl.Props(groups[0])
	hooks, _ := g["LifecycleHookSpecificationList"].([]any)
	got := map[string]string{}
	for _, h := range hooks {
		got[fmt.Sprint(Get(h, "LifecycleTransition"))] = fmt.Sprint(Get(h, "DefaultResult"))
		md, _ := Get(h, "NotificationMetadata").(Intrinsic)
		var m lifecycle.Metadata
		s := strings.NewReplacer("${DeploymentId}", "d-x", "${Role}", "eden").Replace(fmt.Sprint(md.Arg))
		if err := json.Unmarshal([]byte(s), &m); err != nil || m.DeploymentID != "d-x" || m.Role != "eden" {
			t.Errorf("NotificationMetadata %q does not read as lifecycle.Metadata: %v %+v", md.Arg, err, m)
		}
	}
	want := map[string]string{"autoscaling:EC2_INSTANCE_LAUNCHING": "ABANDON", "autoscaling:EC2_INSTANCE_TERMINATING": "CONTINUE"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hooks:\n%s", diff)
	}
	tags := map[string]bool{}
	for _, tg := range g["Tags"].([]any) {
		if Get(tg, "PropagateAtLaunch") == "true" {
			tags[fmt.Sprint(Get(tg, "Key"))] = true
		}
	}
	if !tags[lifecycle.TagDeployment] || !tags[lifecycle.TagRole] {
		t.Errorf("tags %s and %s must propagate at launch: %v", lifecycle.TagDeployment, lifecycle.TagRole, tags)
	}
	lt := tpl.Props("LaunchTemplate")
	if Get(lt, "LaunchTemplateData", "MetadataOptions", "HttpTokens") != "required" {
		t.Errorf("IMDSv2 is not required")
	}
}

// ---- IAM

type statement struct {
	effect    string
	actions   []string
	resources []any
	cond      any
	sid       string
}

func (s statement) allows(action string) bool {
	if s.effect != "Allow" {
		return false
	}
	for _, a := range s.actions {
		if a == action {
			return true
		}
	}
	return false
}

// statements returns the policy statements of a SAM resource's Policies.
func statements(props map[string]any) []statement {
	var out []statement
	pols, _ := props["Policies"].([]any)
	for _, pol := range pols {
		sts, _ := Get(pol, "Statement").([]any)
		for _, st := range sts {
			s := statement{effect: fmt.Sprint(Get(st, "Effect")), cond: Get(st, "Condition"), sid: fmt.Sprint(Get(st, "Sid"))}
			switch a := Get(st, "Action").(type) {
			case string:
				s.actions = []string{a}
			case []any:
				for _, x := range a {
					s.actions = append(s.actions, fmt.Sprint(x))
				}
			}
			switch r := Get(st, "Resource").(type) {
			case []any:
				s.resources = r
			default:
				s.resources = []any{r}
			}
			out = append(out, s)
		}
	}
	return out
}

// noResourceLevel are actions that take no resource-level permission, so
// "*" is their only valid Resource (Service Authorization Reference).
var noResourceLevel = map[string]bool{
	"ssm:CancelCommand": true, "ssm:ListCommandInvocations": true,
	"states:SendTaskSuccess": true, "states:SendTaskFailure": true, "states:SendTaskHeartbeat": true,
	"autoscaling:DescribeTags": true, "ec2:DescribeInstances": true,
	"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "xray:GetSamplingRules": true, "xray:GetSamplingTargets": true,
	"logs:CreateLogDelivery": true, "logs:GetLogDelivery": true, "logs:UpdateLogDelivery": true, "logs:DeleteLogDelivery": true,
	"logs:ListLogDeliveries": true, "logs:PutResourcePolicy": true, "logs:DescribeResourcePolicies": true, "logs:DescribeLogGroups": true,
}

// TestIAM checks each function's policy: its Allow actions are exactly
// config.IAM's (plus its event source's), which are exactly the SDK
// operations reachable from the function's main; no action has a
// wildcard, and "*" resources are only for actions without resource-level
// permissions, each with a comment saying so.
func TestIAM(t *testing.T) {
	tpl := loadT(t, "template.yaml")
	commented := starResourceComments(t, tpl.Node)
	var mains []string
	for _, id := range config.LogicalIDs() {
		mains = append(mains, modulePath+"/"+config.Functions[id].Dir)
	}
	byMain, err := ReachableActions(root(t), mains)
	if err != nil {
		t.Fatal(err)
	}
	reachable := map[string]map[string]string{}
	for _, id := range config.LogicalIDs() {
		reachable[id] = byMain[modulePath+"/"+config.Functions[id].Dir]
	}
	for _, id := range tpl.OfType("AWS::Serverless::Function") {
		t.Run(id, func(t *testing.T) {
			got := map[string]bool{}
			for _, st := range statements(tpl.Props(id)) {
				if st.effect != "Allow" {
					t.Errorf("%s: only Allow statements expected", st.sid)
				}
				for _, a := range st.actions {
					got[a] = true
					for _, r := range st.resources {
						if r == "*" && !noResourceLevel[a] {
							t.Errorf("%s: %s on Resource \"*\", but it supports resource-level permissions", st.sid, a)
						}
					}
				}
			}
			want := map[string]bool{}
			for a := range config.IAM[id] {
				want[a] = true
			}
			for _, a := range config.EventSourceIAM[id] {
				want[a] = true
			}
			for _, a := range config.ImplicitIAM[id] {
				want[a] = true
			}
			if diff := cmp.Diff(keys(want), keys(got)); diff != "" {
				t.Errorf("policy actions (+) differ from config.IAM (-):\n%s", diff)
			}
			// What the code can call: exactly the table.
			var called []string
			for a := range reachable[id] {
				called = append(called, a)
			}
			sort.Strings(called)
			if diff := cmp.Diff(keys(config.IAM[id]), called); diff != "" {
				t.Errorf("SDK actions reachable from %s's main (+) differ from config.IAM (-):\n%s", config.Functions[id].Dir, diff)
				for _, a := range called {
					t.Logf("  %s called at %s", a, reachable[id][a])
				}
			}
		})
	}
	// Every "*" resource carries a comment (why), and no Allow action has a
	// wildcard, in both templates.
	for _, file := range []string{"template.yaml", "infra/fleet.yaml"} {
		tp := loadT(t, file)
		Walk(tp.Root, "", func(path string, v any) {
			m, ok := v.(map[string]any)
			if !ok || m["Effect"] != "Allow" {
				return
			}
			acts := fmt.Sprint(m["Action"])
			if strings.Contains(acts, "*") {
				t.Errorf("%s %s: wildcard action %s", file, path, acts)
			}
		})
	}
	if commented.missing > 0 {
		t.Errorf("%d Resource \"*\" lines of template.yaml have no comment saying why", commented.missing)
	}
}

type commentCount struct{ missing int }

// starResourceComments counts Resource: "*" entries without a comment on
// or just before them.
func starResourceComments(t *testing.T, doc *yaml.Node) commentCount {
	var c commentCount
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Value == "Resource" && v.Kind == yaml.ScalarNode && v.Value == "*" {
					if k.HeadComment == "" && k.LineComment == "" && v.LineComment == "" {
						c.missing++
					}
				}
			}
		}
		for _, ch := range n.Content {
			walk(ch)
		}
	}
	walk(doc)
	return c
}

// prune drops null members (the SDK's unset fields).
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
			} else {
				x[k] = prune(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = prune(e)
		}
	}
	return v
}

// TestSAMConfig checks samconfig.toml's deploy defaults.
func TestSAMConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`stack_name = "eden-deploy"`, `capabilities = "CAPABILITY_IAM"`, `resolve_s3 = true`, `confirm_changeset = true`, `build_in_source = true`} {
		if !strings.Contains(string(b), "\n"+want+"\n") {
			t.Errorf("samconfig.toml lacks %s", want)
		}
	}
}
