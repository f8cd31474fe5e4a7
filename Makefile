# patchbay — see README.md. Kernel tests need root (network namespaces).
GO       ?= go
BIN      := bin/patchbay
PKGS     := ./...
# Debian packages the tests use: busybox (httpd, wget, ping, nc),
# iproute2, util-linux's nsenter (runs the daemon in a test namespace),
# nftables (nft lists the installed ruleset for golden files), socat (UDP
# and SCTP traffic), iperf3 (throughput benchmark) and dnsutils (dig, a
# resolver client for the DNS tests).
TEST_DEBS := busybox iproute2 util-linux nftables socat iperf3 dnsutils
# The Docker API tests drive the docker CLI against patchbay's socket.
# Without one on PATH, the client is extracted from Debian's docker.io
# package into DOCKER_CLI_DIR: installing the package would bring dockerd,
# containerd and iptables, and could start a Docker daemon that changes
# the machine's own network namespace.
DOCKER_CLI_DIR := $(CURDIR)/.cache/docker-cli

.PHONY: build run test deps lint fuzz bench demo clean

build:
	$(GO) build -o $(BIN) ./cmd/patchbay

# The main job on embedded defaults: the daemon with state in
# /var/lib/patchbay and its socket in /run/patchbay.
run: build
	./$(BIN) daemon

# Installs what the tests need (only what is missing), then runs every test.
test: deps
	$(GO) vet $(PKGS)
	PATH="$$PATH:$(DOCKER_CLI_DIR)/usr/bin" $(GO) test -count=1 -timeout 30m $(PKGS)

deps:
	@missing=""; \
	for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@if ! command -v docker >/dev/null 2>&1 && [ ! -x $(DOCKER_CLI_DIR)/usr/bin/docker ]; then \
		echo "extracting the docker client from Debian's docker.io (nothing is installed)"; \
		rm -rf $(DOCKER_CLI_DIR) && mkdir -p $(DOCKER_CLI_DIR) && cd $(DOCKER_CLI_DIR) && \
		{ apt-get download docker.io 2>/dev/null || { apt-get update -qq && apt-get download docker.io; }; } && \
		dpkg -x docker.io_*.deb . && rm -f docker.io_*.deb; \
	fi
	$(GO) mod download

lint:
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzAllocator -fuzztime 30s ./ipam
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime 30s ./ipam
	$(GO) test -run '^$$' -fuzz FuzzParsePools -fuzztime 30s ./ipam
	$(GO) test -run '^$$' -fuzz FuzzDefaultDriver -fuzztime 30s ./ipam
	$(GO) test -run '^$$' -fuzz FuzzParsePoolID -fuzztime 30s ./ipam

# The issue's figures, measured through the API of a daemon in a
# throwaway namespace.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./e2e

# The README's quick start, in throwaway namespaces.
demo:
	$(GO) test -count=1 -run 'TestQuickStart' -v ./e2e

clean:
	rm -rf bin
