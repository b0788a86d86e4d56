package samcheck

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Pseudo parameters every template may Ref.
var pseudoParameters = map[string]bool{
	"AWS::AccountId": true, "AWS::NotificationARNs": true, "AWS::NoValue": true, "AWS::Partition": true,
	"AWS::Region": true, "AWS::StackId": true, "AWS::StackName": true, "AWS::URLSuffix": true,
}

// attributes lists the GetAtt attributes of the resource types the
// templates use (CloudFormation's "Return values" of each type; for SAM
// types, those of the resource SAM generates).
var attributes = map[string][]string{
	"AWS::Serverless::Function":                 {"Arn"},
	"AWS::Serverless::StateMachine":             {"Arn", "Name"},
	"AWS::Serverless::HttpApi":                  {"ApiEndpoint", "ApiId"},
	"AWS::DynamoDB::Table":                      {"Arn", "StreamArn"},
	"AWS::S3::Bucket":                           {"Arn", "DomainName", "RegionalDomainName"},
	"AWS::SQS::Queue":                           {"Arn", "QueueName", "QueueUrl"},
	"AWS::Events::Rule":                         {"Arn"},
	"AWS::Logs::LogGroup":                       {"Arn"},
	"AWS::Cognito::UserPool":                    {"Arn", "ProviderName", "ProviderURL", "UserPoolId"},
	"AWS::Cognito::UserPoolClient":              {"ClientId", "Name"},
	"AWS::IAM::Role":                            {"Arn", "RoleId"},
	"AWS::IAM::InstanceProfile":                 {"Arn"},
	"AWS::EC2::LaunchTemplate":                  {"DefaultVersionNumber", "LatestVersionNumber", "LaunchTemplateId"},
	"AWS::AutoScaling::AutoScalingGroup":        {},
	"AWS::SSM::Document":                        {},
	"AWS::EC2::SecurityGroup":                   {"GroupId", "VpcId"},
	"AWS::ElasticLoadBalancingV2::LoadBalancer": {"CanonicalHostedZoneID", "DNSName", "LoadBalancerArn", "LoadBalancerFullName", "LoadBalancerName", "SecurityGroups"},
	"AWS::ElasticLoadBalancingV2::TargetGroup":  {"LoadBalancerArns", "TargetGroupArn", "TargetGroupFullName", "TargetGroupName"},
	"AWS::ElasticLoadBalancingV2::Listener":     {"ListenerArn"},
}

// generated names the resources SAM generates for a resource of each type
// (the ones a template may Ref or GetAtt), from the resource's logical ID.
func generated(t *Template) map[string]string {
	out := map[string]string{}
	for id, r := range t.Resources() {
		switch r["Type"] {
		case "AWS::Serverless::Function":
			out[id+"Role"] = "AWS::IAM::Role"
		case "AWS::Serverless::StateMachine":
			out[id+"Role"] = "AWS::IAM::Role"
		case "AWS::Serverless::HttpApi":
			out[id+"ApiGatewayDefaultStage"] = "AWS::ApiGatewayV2::Stage"
		}
		if r["Type"] == "AWS::Serverless::Function" {
			if evs, ok := Get(r, "Properties", "Events").(map[string]any); ok {
				for _, ev := range evs {
					if Get(ev, "Type") == "HttpApi" && Get(ev, "Properties", "ApiId") == nil {
						out["ServerlessHttpApi"] = "AWS::Serverless::HttpApi"
					}
				}
			}
		}
	}
	return out
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// CheckRefs checks that every Ref, GetAtt, Sub variable and condition
// resolves: to a parameter, a resource, a pseudo parameter or a resource
// SAM generates; GetAtt attributes must be return values of the type.
func CheckRefs(t *Template) []string {
	params, _ := t.Root["Parameters"].(map[string]any)
	conds, _ := t.Root["Conditions"].(map[string]any)
	res := t.Resources()
	gen := generated(t)
	typeOf := func(id string) (string, bool) {
		if r, ok := res[id]; ok {
			s, _ := r["Type"].(string)
			return s, true
		}
		s, ok := gen[id]
		return s, ok
	}
	var errs []string
	ref := func(path, name string) {
		if _, ok := params[name]; ok || pseudoParameters[name] {
			return
		}
		if _, ok := typeOf(name); ok {
			return
		}
		errs = append(errs, fmt.Sprintf("%s: Ref %s resolves to nothing", path, name))
	}
	getAtt := func(path, id, attr string) {
		typ, ok := typeOf(id)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: GetAtt %s.%s: no resource %s", path, id, attr, id))
			return
		}
		known, listed := attributes[typ]
		if !listed {
			errs = append(errs, fmt.Sprintf("%s: GetAtt %s.%s: attributes of %s are not listed in samcheck", path, id, attr, typ))
			return
		}
		for _, a := range known {
			if a == attr {
				return
			}
		}
		errs = append(errs, fmt.Sprintf("%s: GetAtt %s.%s: %s has no attribute %s (it has %s)", path, id, attr, typ, attr, strings.Join(known, ", ")))
	}
	cond := func(path, name string) {
		if _, ok := conds[name]; !ok {
			errs = append(errs, fmt.Sprintf("%s: condition %s is not defined", path, name))
		}
	}
	Walk(t.Root, "", func(path string, v any) {
		switch x := v.(type) {
		case Intrinsic:
			switch x.Name {
			case "Ref":
				s, _ := x.Arg.(string)
				ref(path, s)
			case "Fn::GetAtt":
				l, _ := x.Arg.([]any)
				if len(l) != 2 {
					errs = append(errs, fmt.Sprintf("%s: GetAtt needs Resource.Attribute", path))
					return
				}
				getAtt(path, fmt.Sprint(l[0]), fmt.Sprint(l[1]))
			case "Fn::Sub":
				s, vars := "", map[string]any{}
				switch a := x.Arg.(type) {
				case string:
					s = a
				case []any:
					if len(a) == 2 {
						s, _ = a[0].(string)
						vars, _ = a[1].(map[string]any)
					}
				}
				for _, m := range subVar.FindAllStringSubmatch(s, -1) {
					name := m[1]
					if _, ok := vars[name]; ok {
						continue
					}
					if id, attr, ok := strings.Cut(name, "."); ok {
						getAtt(path, id, attr)
						continue
					}
					ref(path, name)
				}
			case "Fn::If":
				l, _ := x.Arg.([]any)
				if len(l) > 0 {
					s, _ := l[0].(string)
					cond(path, s)
				}
			case "Condition":
				s, _ := x.Arg.(string)
				cond(path, s)
			}
		case map[string]any:
			if c, ok := x["Condition"].(string); ok && (strings.HasPrefix(path, ".Resources.") || strings.HasPrefix(path, ".Outputs.")) && strings.Count(path, ".") == 2 {
				cond(path, c)
			}
		}
	})
	sort.Strings(errs)
	return errs
}
