# shipgate: the two commands a newcomer needs are `make demo` and `make test`.
# `make demo` needs only Go and git (the local stack runs in one Go process); `make test`
# installs what the tests need first (npm packages; Debian packages when run as root).

GO        ?= go
BIN       := bin/shipgate
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: all deps build demo test test-go lint bench synth clean

all: build

# deps installs the Node tools the tests use (dynalite as an independent DynamoDB oracle,
# the pinned CDK CLI, webhook fixtures), Debian's
# chromium and AWS CLI v2 when running as root, and the Go modules.
deps:
	@scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/shipgate

demo: build
	$(BIN) demo

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test-go:
	$(GO) test -timeout 18m -count=1 ./...

test: deps lint test-go synth

# synth runs the pinned CDK CLI on the Go app, offline.
synth:
	node_modules/.bin/cdk synth --quiet > /dev/null
	@echo "cdk synth: ok"

bench: deps
	@scripts/bench.sh

clean:
	rm -rf bin cdk.out infra/build
