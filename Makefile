# Outpost. `make run` starts the appliance in dev mode; `make test` runs
# the whole suite, installing what it needs first.

GO      := $(shell scripts/go.sh)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
IMAGES  := images
BIN     := bin
TESTTIMEOUT ?= 80m

.PHONY: all build run test test-unit fuzz bench images ipxe kernel recon appliance deps clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

# Dev mode: no root, loopback, unprivileged ports, data in ./data.
run: ipxe
	CGO_ENABLED=0 $(GO) run -ldflags "$(LDFLAGS)" ./cmd/outpostd -data ./data -images ./$(IMAGES)

deps:
	scripts/deps.sh test

# The whole suite, real clients and VMs included. Run as root: the tests
# build network namespaces.
# The QEMU packages run one at a time after the rest: two TCG guests
# at once on two cores would make each other's timings meaningless.
VMPKGS := ./cmd/outpostd ./cmd/outpost-init
test: deps images
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) test -count=1 -timeout $(TESTTIMEOUT) -p 2 $$($(GO) list ./... | grep -v -e '/cmd/outpostd$$' -e '/cmd/outpost-init$$')
	CGO_ENABLED=0 $(GO) test -count=1 -timeout $(TESTTIMEOUT) -p 1 $(VMPKGS)

# Pure-Go tests only; no root, no packages.
test-unit:
	$(GO) test -count=1 -short ./boot/... ./appliance/... ./recon/...

# Runs every fuzz target for FUZZTIME each; the committed corpora run in `test`.
FUZZTIME ?= 30s
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

bench: images
	scripts/deps.sh bench
	bench/run.sh

images: ipxe kernel recon appliance

# The recon image machines boot: u-root core commands plus cmd/recon,
# Debian's kernel and the modules it needs.
RECON_SRC := $(shell find recon cmd/recon initramfs -type f -not -path '*/testdata/*') go.mod go.sum
recon: $(IMAGES)/recon/manifest.json
$(IMAGES)/recon/manifest.json: $(RECON_SRC) | kernel
	$(GO) run ./cmd/outpost-image -kernel $(IMAGES)/kernel -version $(VERSION) recon

# The appliance image the OOB box boots: u-root core commands, outpostd,
# the outpost CLI and outpost-init, with the iPXE binaries and the recon
# image it serves.
APPLIANCE_SRC := $(shell git ls-files '*.go' 2>/dev/null) initramfs/.mkuimage.yaml go.mod go.sum
appliance: $(IMAGES)/appliance/manifest.json
$(IMAGES)/appliance/manifest.json: $(APPLIANCE_SRC) $(IMAGES)/recon/manifest.json | kernel ipxe
	$(GO) run ./cmd/outpost-image -kernel $(IMAGES)/kernel -version $(VERSION) appliance

# iPXE binaries from Debian's ipxe package, served over TFTP and HTTP.
ipxe:
	@mkdir -p $(IMAGES)/ipxe
	@if [ -d /usr/lib/ipxe ]; then \
		cp -u /usr/lib/ipxe/undionly.kpxe /usr/lib/ipxe/ipxe.efi /usr/lib/ipxe/snponly.efi $(IMAGES)/ipxe/; \
	else \
		echo "ipxe: Debian's ipxe package is not installed (scripts/deps.sh test); TFTP will have nothing to serve" >&2; \
	fi

# Debian's kernel, from Debian's packages.
kernel:
	scripts/kernel.sh $(IMAGES)/kernel

clean:
	rm -rf $(BIN) data
