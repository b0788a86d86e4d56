// Package aws is the AWS side of the fleet: what Amazon EC2 Auto Scaling
// and EC2 know about groups and instances (lifecycle.Fleet), and the
// completion of lifecycle actions (lifecycle.Completer, tasks.Lifecycle).
package aws

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/edendeploy/edendeploy/internal/deploy"
	"github.com/edendeploy/edendeploy/internal/lifecycle"
	"github.com/edendeploy/edendeploy/internal/tasks"
)

// AutoScalingAPI is the part of the Auto Scaling client the fleet calls.
type AutoScalingAPI interface {
	DescribeTags(ctx context.Context, in *autoscaling.DescribeTagsInput, optFns ...func(*autoscaling.Options)) (*autoscaling.DescribeTagsOutput, error)
	CompleteLifecycleAction(ctx context.Context, in *autoscaling.CompleteLifecycleActionInput, optFns ...func(*autoscaling.Options)) (*autoscaling.CompleteLifecycleActionOutput, error)
	RecordLifecycleActionHeartbeat(ctx context.Context, in *autoscaling.RecordLifecycleActionHeartbeatInput, optFns ...func(*autoscaling.Options)) (*autoscaling.RecordLifecycleActionHeartbeatOutput, error)
}

// EC2API is the part of the EC2 client the fleet calls.
type EC2API interface {
	DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, optFns ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
}

// Fleet reads groups and instances and completes lifecycle actions.
type Fleet struct {
	AutoScaling AutoScalingAPI
	EC2         EC2API
}

var (
	_ lifecycle.Fleet     = (*Fleet)(nil)
	_ lifecycle.Completer = (*Fleet)(nil)
	_ tasks.Lifecycle     = (*Fleet)(nil)
)

// GroupTags returns the tags of the Auto Scaling group (none for a group
// that does not exist).
func (f *Fleet) GroupTags(ctx context.Context, group string) (map[string]string, error) {
	tags := map[string]string{}
	in := &autoscaling.DescribeTagsInput{
		Filters: []astypes.Filter{{Name: aws.String("auto-scaling-group"), Values: []string{group}}},
	}
	p := autoscaling.NewDescribeTagsPaginator(f.AutoScaling, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("fleet: tags of group %s: %w", group, err)
		}
		for _, t := range out.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return tags, nil
}

// InstanceAddress returns the instance's private IPv4 address, or its
// private DNS name when it has none; NotFound if EC2 does not know it.
func (f *Fleet) InstanceAddress(ctx context.Context, instanceID string) (string, error) {
	out, err := f.EC2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{instanceID}})
	if apiErrorCode(err) == "InvalidInstanceID.NotFound" || apiErrorCode(err) == "InvalidInstanceID.Malformed" {
		return "", deploy.NotFound("instance %s: %v", instanceID, err)
	}
	if err != nil {
		return "", fmt.Errorf("fleet: describe instance %s: %w", instanceID, err)
	}
	for _, r := range out.Reservations {
		for _, i := range r.Instances {
			if aws.ToString(i.InstanceId) != instanceID {
				continue
			}
			if a := aws.ToString(i.PrivateIpAddress); a != "" {
				return a, nil
			}
			if a := aws.ToString(i.PrivateDnsName); a != "" {
				return a, nil
			}
		}
	}
	return "", deploy.NotFound("instance %s has no private address", instanceID)
}

// CompleteLifecycleAction completes a with result (CONTINUE or ABANDON).
// An action that is no longer pending (completed already, or timed out) is
// not an error: there is nothing left to complete.
func (f *Fleet) CompleteLifecycleAction(ctx context.Context, a deploy.LifecycleAction, result string) error {
	_, err := f.AutoScaling.CompleteLifecycleAction(ctx, &autoscaling.CompleteLifecycleActionInput{
		AutoScalingGroupName:  aws.String(a.GroupName),
		LifecycleHookName:     aws.String(a.HookName),
		LifecycleActionResult: aws.String(result),
		LifecycleActionToken:  aws.String(a.Token),
		InstanceId:            aws.String(a.InstanceID),
	})
	if noActiveAction(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fleet: complete lifecycle action of %s with %s: %w", a.InstanceID, result, err)
	}
	return nil
}

// RecordLifecycleActionHeartbeat extends the action's timeout.
func (f *Fleet) RecordLifecycleActionHeartbeat(ctx context.Context, a deploy.LifecycleAction) error {
	_, err := f.AutoScaling.RecordLifecycleActionHeartbeat(ctx, &autoscaling.RecordLifecycleActionHeartbeatInput{
		AutoScalingGroupName: aws.String(a.GroupName),
		LifecycleHookName:    aws.String(a.HookName),
		LifecycleActionToken: aws.String(a.Token),
		InstanceId:           aws.String(a.InstanceID),
	})
	if noActiveAction(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("fleet: lifecycle heartbeat of %s: %w", a.InstanceID, err)
	}
	return nil
}

// noActiveAction recognises Auto Scaling's answer for an action that is no
// longer pending: a ValidationError "No active Lifecycle Action found".
func noActiveAction(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationError" &&
		strings.Contains(ae.ErrorMessage(), "No active Lifecycle Action")
}

func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
