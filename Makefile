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
# The real-dockerd tests (e2e/dockerd_test.go) run Debian's dockerd,
# containerd and runc, with iptables (dockerd programs its embedded DNS
# inside each container's namespace with it) and a static busybox for the
# image they build, all extracted into DOCKERD_DIR: nothing is installed,
# so no service starts and the machine's own namespaces are never touched.
DOCKERD_DIR := $(CURDIR)/.cache/dockerd
DOCKERD_DEBS := docker.io containerd runc busybox-static iptables libip4tc2 libip6tc2 \
	libxtables12 libnetfilter-conntrack3 libnfnetlink0 libnftnl11 libmnl0

.PHONY: build run test deps lint fuzz bench demo demo-multihost clean

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
	@if [ ! -x $(DOCKERD_DIR)/usr/sbin/dockerd ] || [ ! -x $(DOCKERD_DIR)/xbin/iptables ]; then \
		echo "extracting dockerd, containerd, runc, iptables and busybox-static (nothing is installed)"; \
		rm -rf $(DOCKERD_DIR) && mkdir -p $(DOCKERD_DIR)/xbin && cd $(DOCKERD_DIR) && \
		{ apt-get download $(DOCKERD_DEBS) 2>/dev/null || { apt-get update -qq && apt-get download $(DOCKERD_DEBS); }; } && \
		for f in *.deb; do dpkg -x $$f . || exit 1; done && rm -f *.deb && \
		ln -sf ../usr/sbin/xtables-nft-multi xbin/iptables && ln -sf ../usr/sbin/xtables-nft-multi xbin/ip6tables; \
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

# Three hosts in namespaces on one underlay, a real etcd, one daemon
# each: an overlay network used by name across hosts.
demo-multihost: deps
	$(GO) test -count=1 -run 'TestOverlayAcrossHosts' -v ./e2e

clean:
	rm -rf bin
