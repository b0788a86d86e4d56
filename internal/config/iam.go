package config

// IAM lists, for each function, the AWS API actions its code calls, and
// so exactly the Allow actions of its policy in template.yaml. The reason
// of each is the use case that calls it. internal/samcheck checks both
// ways: the template against this table, and this table against the SDK
// operations reachable from the function's main (static analysis: an
// action is listed when some code path of the function can call it, even
// one that its inputs never take).
var IAM = map[string]map[string]string{
	API: {
		"dynamodb:GetItem":            "every read (GetDeployment, GetRun, ActiveRun, idempotency records)",
		"dynamodb:PutItem":            "UpdateDeployment, UpdateRun, idempotency records",
		"dynamodb:DeleteItem":         "transactions that release the active-run slot or host claims; DeleteIdempotency",
		"dynamodb:ConditionCheckItem": "CreateRun and AddInstance transactions check the deployment",
		"dynamodb:Query":              "ListDeployments (GSI1, GSI2), ListRuns, DeleteDeployment",
		"dynamodb:BatchWriteItem":     "DeleteDeployment removes the deployment's runs",
		"s3:ListBucket":               "DeleteDeployment lists deployments/<id>/",
		"s3:DeleteObject":             "DeleteDeployment deletes deployments/<id>/ (DeleteObjects)",
		"s3:GetObject":                "the run log routes read each step's SSM output (runner/ssm RunLogs)",
		"ssm:PutParameter":            "CreateDeployment keeps the generated secrets",
		"ssm:GetParametersByPath":     "DeleteDeployment lists the deployment's secrets",
		"ssm:DeleteParameters":        "DeleteDeployment deletes them",
		"ssm:CancelCommand":           "CancelRun stops the running step (runner Cancel)",
		"states:StartExecution":       "every run starts an execution",
		"states:StopExecution":        "CancelRun stops the execution",
		"scheduler:CreateSchedule":    "CreateSchedule arms the schedule (trigger/aws: after an UpdateSchedule of a missing one)",
		"scheduler:UpdateSchedule":    "CreateSchedule, PauseSchedule and ResumeSchedule arm it",
		"scheduler:DeleteSchedule":    "DeleteSchedule and DeleteDeployment disarm schedules",
		"events:PutEvents":            "a cancelled run, or one that could not start, is published (notify/eventbus)",
	},
	StartRun: {
		"dynamodb:GetItem":    "GetRun, GetDeployment",
		"dynamodb:PutItem":    "UpdateRun (queued to running), UpdateDeployment (instance status)",
		"dynamodb:DeleteItem": "UpdateRun's transaction that finishes a run frees its slot: on the code path, not taken by this task",
	},
	PrepareStep: {
		"dynamodb:GetItem":    "GetDeployment, GetRun",
		"dynamodb:PutItem":    "UpdateRun (step running)",
		"dynamodb:DeleteItem": "UpdateRun's transaction that finishes a run frees its slot: on the code path, not taken by this task",
		"s3:PutObject":        "PutBlob of the step's bundle",
		"autoscaling:RecordLifecycleActionHeartbeat": "a scale-out run keeps its lifecycle action alive",
	},
	DispatchStep: {
		"dynamodb:GetItem":    "GetDeployment, GetRun",
		"dynamodb:PutItem":    "UpdateRun (command ID)",
		"dynamodb:DeleteItem": "UpdateRun's transaction that finishes a run frees its slot: on the code path, not taken by this task",
		"s3:GetObject":        "the runner reads the bundle's secret names",
		"s3:PutObject":        "the runner stores the command record (commands/<id>.json)",
		"ssm:SendCommand":     "the runner sends the apply-bundle document",
		"ssm:CancelCommand":   "the runner cancels a command whose record it could not store",
	},
	RecordStep: {
		"dynamodb:GetItem":    "GetRun, GetDeployment, GetBackup",
		"dynamodb:PutItem":    "UpdateRun (step results), PutBackup (backup records)",
		"dynamodb:DeleteItem": "DeleteBackup past the retention; UpdateRun's transaction that finishes a run frees its slot (not taken by this task)",
		"dynamodb:Query":      "ListBackups of the deployment",
		"s3:GetObject":        "reads each backup copy a db server put in the bucket to check its SHA-256",
		"s3:PutObject":        "the backup mirror's PutCopy: on the code path, no mirror is configured on AWS",
		"s3:DeleteObject":     "deletes backup copies past the retention (DeleteObjects)",
	},
	FinishRun: {
		"dynamodb:GetItem":    "GetRun, GetDeployment",
		"dynamodb:PutItem":    "UpdateRun, UpdateDeployment",
		"dynamodb:DeleteItem": "UpdateRun of a finished run releases the active-run slot (transaction)",
		"events:PutEvents":    "the run's end is published (Eden Deploy Run Status Change)",
	},
	CompleteLifecycle: {
		"dynamodb:GetItem":                    "GetRun",
		"dynamodb:PutItem":                    "UpdateRun (lifecycle result)",
		"dynamodb:DeleteItem":                 "UpdateRun's transaction that finishes a run frees its slot: on the code path, not taken by this task",
		"autoscaling:CompleteLifecycleAction": "CONTINUE or ABANDON the run's lifecycle action",
		"events:PutEvents":                    "an ABANDON is published (Eden Deploy Lifecycle Action Abandoned)",
	},
	SSMStatus: {
		"s3:GetObject":               "the command record and each host's results or output",
		"ssm:ListCommandInvocations": "every host's invocation status",
		"states:SendTaskSuccess":     "the step's outcome",
		"states:SendTaskFailure":     "RunnerError when Ansible ran on no host",
	},
	Lifecycle: {
		"dynamodb:GetItem":                    "GetDeployment, GetRun, FindServerByInstanceID",
		"dynamodb:PutItem":                    "AddServer, CreateRun, UpdateRun, UpdateDeployment",
		"dynamodb:DeleteItem":                 "RemoveServer releases host claims; a run that cannot start releases its slot",
		"dynamodb:ConditionCheckItem":         "CreateRun checks the deployment",
		"states:StartExecution":               "scale-out and scale-in runs",
		"autoscaling:DescribeTags":            "the group's eden-deploy tags",
		"autoscaling:CompleteLifecycleAction": "ABANDON a launch that cannot join, CONTINUE a terminate of no deployment",
		"ec2:DescribeInstances":               "the launching instance's private address",
		"events:PutEvents":                    "an action abandoned at once, or a run that could not start, is published",
	},
	ExecutionEnded: {
		"dynamodb:GetItem":           "GetRun",
		"dynamodb:PutItem":           "UpdateRun (the run's transitions)",
		"dynamodb:DeleteItem":        "UpdateRun's transaction that finishes a run frees its slot: on the code path, not taken here",
		"states:GetExecutionHistory": "count the ended execution's transitions",
	},
	Schedule: {
		"dynamodb:GetItem":            "GetSchedule, GetFire, GetDeployment, GetRun, ActiveRun",
		"dynamodb:PutItem":            "CreateFire, UpdateFire, UpdateRun (execution ID), UpdateDeployment",
		"dynamodb:DeleteItem":         "a run that cannot start is failed, releasing its slot (transaction)",
		"dynamodb:ConditionCheckItem": "CreateRun checks the deployment",
		"states:StartExecution":       "the fire starts the run's execution",
		"events:PutEvents":            "a run that could not start is published",
	},
	PlanDeliveries: {
		"dynamodb:Query":   "ListWebhooks of the notice's deployment",
		"dynamodb:PutItem": "CreateDelivery, one per webhook",
		"dynamodb:GetItem": "GetDelivery of one planned before",
	},
	DeliverWebhook: {
		"dynamodb:GetItem": "GetDelivery, GetWebhook",
		"dynamodb:PutItem": "UpdateDelivery records the attempt",
		"ssm:GetParameter": "the webhook's signing secret",
	},
}

// ImplicitIAM lists actions that a function's calls need besides their
// own: EventBridge Scheduler checks iam:PassRole on the role a schedule's
// target names (CreateSchedule, UpdateSchedule).
var ImplicitIAM = map[string][]string{
	API: {"iam:PassRole"},
}

// EventSourceIAM lists actions a function's role needs for Lambda's own
// use, not its code: the SQS poller of LifecycleEventSource.
var EventSourceIAM = map[string][]string{
	Lifecycle: {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
}
