# The two commands a newcomer needs: `make dev` and `make test`.
# Both install what they need (the pinned Python tools go into .venv).

CARGO ?= cargo
WEBHOOK_BIN := target/debug/webhook

.PHONY: dev test venv lint unit e2e cfn-lint build-webhook

## Run the service locally: moto_server, the kvCORE fake, the function
## behind http://127.0.0.1:3000, a demo workflow seeded.
dev: venv build-webhook
	$(CARGO) build -q -p kvsync-devstack
	infra/scripts/with-moto.sh target/debug/devstack

## Run every check and test, as CI does.
test: venv lint cfn-lint build-webhook
	WEBHOOK_BIN=$(CURDIR)/$(WEBHOOK_BIN) KVSYNC_BIN=$(CURDIR)/target/debug/kvsync infra/scripts/with-moto.sh $(CARGO) test --workspace --no-fail-fast

venv:
	@infra/scripts/venv.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

cfn-lint: venv
	.venv/bin/cfn-lint template.yaml

build-webhook:
	$(CARGO) build -p webhook -p kvsync-cli
