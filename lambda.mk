# Lambda functions: SAM's build targets (BuildMethod: makefile), local
# invocation under the runtime interface emulator, and their benchmark.
# Included by the Makefile. See docs/aws.md.

LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w $(BUILDINFO)'
RIE_VERSION    := v0.0.0-20261030222936-bef5c4ba774d
RIE            := $(CURDIR)/.cache/bin/aws-lambda-rie

# Logical ID (template.yaml) -> package directory under functions/.
LAMBDA_FUNCTIONS := ApiFunction:api StartRunFunction:startrun PrepareStepFunction:preparestep \
	DispatchStepFunction:dispatchstep RecordStepFunction:recordstep FinishRunFunction:finishrun \
	CompleteLifecycleFunction:completelifecycle SsmStatusFunction:ssmstatus LifecycleFunction:lifecycle \
	ScheduleFunction:schedule PlanDeliveriesFunction:plandeliveries DeliverWebhookFunction:deliverwebhook

# One target per function, as SAM calls them: make build-<LogicalId>
# with ARTIFACTS_DIR set. Static arm64 binaries named bootstrap
# (provided.al2023).
define lambda_build_rule
.PHONY: build-$(1)
build-$(1):
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $$(GO) build $$(LAMBDA_GOFLAGS) -o $$(ARTIFACTS_DIR)/bootstrap ./functions/$(2)
endef
$(foreach f,$(LAMBDA_FUNCTIONS),$(eval $(call lambda_build_rule,$(word 1,$(subst :, ,$(f))),$(word 2,$(subst :, ,$(f))))))

.PHONY: lambda-build invoke bench-lambda rie

## lambda-build: every function as SAM builds it, into .aws-sam-local/<LogicalId>/bootstrap.
lambda-build:
	@for f in $(LAMBDA_FUNCTIONS); do id=$${f%%:*}; \
	  $(MAKE) --no-print-directory build-$$id ARTIFACTS_DIR=$(CURDIR)/.cache/lambda/arm64/$$id || exit 1; done

rie: $(RIE)
$(RIE):
	GOBIN=$(CURDIR)/.cache/bin $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

## invoke: FN=<dir under functions/> EVENT=events/<file>.json: build FN for
## this machine and invoke it once under the runtime interface emulator,
## against local peers (DynamoDB, S3, and checking servers for Step
## Functions, SSM, Auto Scaling and EC2) with sample data.
invoke: $(RIE)
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=api EVENT=events/api-create-deployment.json"; exit 2; }
	$(GO) run ./internal/samcheck/cmd/lambdainvoke -fn "$(FN)" -event "$(EVENT)" -rie "$(RIE)"

## bench-lambda: size of each stripped arm64 binary, and cold start (process
## start to first response) of each host binary under the emulator.
bench-lambda: $(RIE) lambda-build
	$(GO) run ./internal/samcheck/cmd/lambdainvoke -bench -rie "$(RIE)" -arm64-dir $(CURDIR)/.cache/lambda/arm64
