GO ?= go
PKGS ?= ./...
FUZZTIME ?= 30s

.PHONY: all build test race bench lint fuzz demo

all: lint test

build:
	$(GO) build -o bin/choreo ./cmd/choreo

test:
	$(GO) test $(PKGS)

race:
	$(GO) test -race $(PKGS)

# Benchmarks of the log, the engine and the condition evaluator.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./store/pebble/ ./engine/ ./condition/ ./event/ ./cmd/choreo/

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest $(PKGS)

# Runs every fuzz target for FUZZTIME each.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

demo: build
	./bin/choreo run --choreography examples/ecommerce.yaml --events examples/orders.jsonl
