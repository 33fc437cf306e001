# The two commands a newcomer needs: `make dev` and `make test`.
# Both install what they need (the pinned Python tools go into .venv).

CARGO ?= cargo
WEBHOOK_BIN := target/debug/webhook
INDEXER_BIN := target/debug/kvcore-indexer
SYNC_WORKER_BIN := target/debug/sync-worker
GOOGLE_POLLER_BIN := target/debug/google-poller
HEALTH_CHECK_BIN := target/debug/health-check
MICROSOFT_POLLER_BIN := target/debug/microsoft-poller

.PHONY: dev test build bench profile venv lint cfn-lint moto-patches build-webhook

# The project's Python tools (sam, cargo-lambda, zig, cfn-lint) come first.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0

## Run the service locally: moto_server, the kvCORE fake, the function
## behind http://127.0.0.1:3000, a demo workflow seeded.
dev: venv build-webhook
	@echo "make dev: building the local stack (a few minutes the first time)"
	$(CARGO) build -p kvsync-devstack
	infra/scripts/with-moto.sh target/debug/devstack

## Run every check and test, as CI does.
test: venv lint cfn-lint moto-patches build-webhook
	CHROMIUM_BIN=$$(infra/scripts/chromium.sh) \
	WEBHOOK_BIN=$(CURDIR)/$(WEBHOOK_BIN) INDEXER_BIN=$(CURDIR)/$(INDEXER_BIN) SYNC_WORKER_BIN=$(CURDIR)/$(SYNC_WORKER_BIN) GOOGLE_POLLER_BIN=$(CURDIR)/$(GOOGLE_POLLER_BIN) HEALTH_CHECK_BIN=$(CURDIR)/$(HEALTH_CHECK_BIN) MICROSOFT_POLLER_BIN=$(CURDIR)/$(MICROSOFT_POLLER_BIN) KVSYNC_BIN=$(CURDIR)/target/debug/kvsync infra/scripts/with-moto.sh $(CARGO) test --workspace --no-fail-fast

## Measure what one event costs, and a phone index build (release build): target/bench/report.json
bench: venv
	$(CARGO) build --release -p webhook -p kvcore-indexer -p sync-worker -p google-poller -p microsoft-poller -p kvsync-cli -p kvsync-bench
	KVSYNC_BIN=$(CURDIR)/target/release/kvsync WEBHOOK_BIN=$(CURDIR)/target/release/webhook INDEXER_BIN=$(CURDIR)/target/release/kvcore-indexer SYNC_WORKER_BIN=$(CURDIR)/target/release/sync-worker GOOGLE_POLLER_BIN=$(CURDIR)/target/release/google-poller MICROSOFT_POLLER_BIN=$(CURDIR)/target/release/microsoft-poller infra/scripts/with-moto.sh target/release/kvsync-bench

## Where one warm event's CPU goes: make bench's warm loop under perf,
## drawn by inferno: target/profile/webhook.svg (PROFILER=callgrind counts
## instructions instead: target/profile/callgrind.out.*).
profile: venv
	infra/scripts/profile.sh

venv:
	@infra/scripts/venv.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The local moto_server's cost patches change no answer (plain moto vs patched).
moto-patches: venv
	.venv/bin/python infra/scripts/test_moto_atomic.py

cfn-lint: venv
	cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 sam validate --lint --template template.yaml

## Build the deployable function with SAM (cargo-lambda, x86_64):
## .aws-sam/build/WebhookFunction/bootstrap
build: venv
	sam build --beta-features --template template.yaml

## The binaries the end-to-end tests run: the functions and the CLI.
build-webhook:
	$(CARGO) build -p webhook -p kvcore-indexer -p sync-worker -p google-poller -p health-check -p microsoft-poller -p kvsync-cli
