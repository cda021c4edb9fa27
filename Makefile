# Pixy: build, run, test and package.
#
#   make setup    install what building and testing need (idempotent: only what is missing)
#   make build    the web UI, then every crate of the workspace (debug)
#   make run      build, start the daemon if it is not running, and open the window
#   make test     setup + build, cargo tests, the end-to-end suite in a private D-Bus session with a
#                 real Secret Service, then the .deb/.rpm package test
#   make package  release build, then .deb and .rpm bundles (man pages, completions, icons,
#                 AppStream metainfo and a systemd user unit inside)
#   make icons    regenerate icons/ from icons/pixy.svg with `tauri icon`
#   make bench    benchmarks: speed, memory, sizes against their budgets, opt-level "s" against 3,
#                 the largest crates in each binary
#
# The build cache lives outside the work tree so fresh clones on the same machine reuse it;
# override with CARGO_TARGET_DIR=... . Binaries are always looked up there.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

export CARGO_TARGET_DIR ?= $(HOME)/.cache/pixy/target
PYTHON ?= python3
PYTEST_ARGS ?= -v -ra

# Root installs system packages; anyone else goes through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_GET := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900

# Building the window (Tauri 2 on WebKitGTK) and the packages.
APT_BUILD := libwebkit2gtk-4.1-dev build-essential curl wget file libxdo-dev libssl-dev \
	libayatana-appindicator3-dev librsvg2-dev libgtk-3-dev rpm
# Testing: a real X server, window tools, a real Secret Service in a private D-Bus session,
# a tray host for the daemon's StatusNotifierItem, and WebKit's WebDriver.
APT_TEST := xvfb xauth imagemagick webkit2gtk-driver xdotool x11-utils gnome-keyring git \
	libsecret-tools libglib2.0-bin dbus-daemon dbus-bin dbus-x11 dunst libnotify-bin haskell-gtk-sni-tray-utils \
	haskell-status-notifier-item-utils chromium chromium-driver xclip \
	appstream desktop-file-utils man-db bash-completion zsh fish
APT_PACKAGES := $(APT_BUILD) $(APT_TEST)

BIN_DIR := $(CARGO_TARGET_DIR)/debug
BUNDLE_DIR := $(CARGO_TARGET_DIR)/release/bundle
E2E_ENV := PIXY_TARGET_DIR="$(CARGO_TARGET_DIR)"
CARGO_BIN := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin
export PATH := $(CARGO_BIN):$(PATH)

.PHONY: setup preflight setup-apt setup-npm setup-tauri-driver setup-pytest setup-grantex-sdk build ui run test test-cargo test-ui \
	test-e2e test-package package icons bench fuzz

## setup ------------------------------------------------------------------------------------------

setup: preflight setup-apt setup-npm setup-tauri-driver setup-pytest setup-grantex-sdk

# What setup cannot install itself (Rust, Node.js, Python) must be there and new enough.
preflight:
	@tests/support/preflight.sh

setup-apt: preflight
	@missing=""; \
	for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' "$$p" 2>/dev/null | grep -qx 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "setup: installing apt packages:$$missing"; \
		$(APT_GET) update; \
		$(APT_GET) install -y $$missing; \
	fi

# Each lock file must name every optional package its locked packages name (the builds of rollup,
# esbuild and the Tauri CLI for other platforms): `npm ci` refuses it otherwise, on a fresh machine
# only. npm ci runs only when node_modules is missing or older than the lock file (npm writes
# node_modules/.package-lock.json on every install).
NPM_DIRS := ui tests/oidc tests/mcp

setup-npm: preflight
	@node tests/support/npm-lock-complete.mjs $(NPM_DIRS)
	@$(MAKE) --no-print-directory $(NPM_DIRS:%=%/node_modules/.package-lock.json)

%/node_modules/.package-lock.json: %/package-lock.json %/package.json
	npm --prefix $* ci --no-audit --no-fund
	@touch $@

setup-tauri-driver:
	@if ! command -v tauri-driver >/dev/null && [ ! -x "$(CARGO_BIN)/tauri-driver" ]; then \
		echo "setup: cargo install tauri-driver"; \
		env -u CARGO_TARGET_DIR cargo install tauri-driver --locked; \
	fi

setup-pytest:
	@if ! $(PYTHON) -c 'import pytest' 2>/dev/null; then \
		echo "setup: installing pytest"; \
		$(PYTHON) -m pip install --quiet 'pytest>=7' 2>/dev/null \
			|| { $(APT_GET) update && $(APT_GET) install -y python3-pytest; }; \
		$(PYTHON) -c 'import pytest'; \
	fi

# The Grantex Python SDK, which a test holds Pixy's PKCE pairs against: pinned, and kept beside the
# build cache rather than in the person's Python.
GRANTEX_SDK_VERSION := 0.7.2
GRANTEX_SDK := $(CARGO_TARGET_DIR)/../grantex-sdk-$(GRANTEX_SDK_VERSION)
export PIXY_GRANTEX_SDK := $(GRANTEX_SDK)

setup-grantex-sdk:
	@if ! PYTHONPATH="$(GRANTEX_SDK)" $(PYTHON) -c 'import grantex' 2>/dev/null; then \
		echo "setup: installing the Grantex SDK $(GRANTEX_SDK_VERSION)"; \
		$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$(GRANTEX_SDK)" \
			"grantex==$(GRANTEX_SDK_VERSION)"; \
		PYTHONPATH="$(GRANTEX_SDK)" $(PYTHON) -c 'import grantex'; \
	fi

## build ------------------------------------------------------------------------------------------

ui: setup-npm
	npm --prefix ui run build

build: setup ui
	cargo build --workspace

## run --------------------------------------------------------------------------------------------

# The window starts the daemon itself; `pixy status` starts it first so the tray is there even
# before the window opens, and shows what is linked.
run: build
	@if [ -z "$${DISPLAY:-}" ] && [ -z "$${WAYLAND_DISPLAY:-}" ]; then \
		echo "make run: no display; run it in a desktop session (or: xvfb-run make run)" >&2; \
		exit 1; \
	fi
	"$(BIN_DIR)/pixy" status
	"$(BIN_DIR)/pixy-desktop"

## test -------------------------------------------------------------------------------------------

test: setup build
	$(MAKE) --no-print-directory test-cargo
	$(MAKE) --no-print-directory test-ui
	$(MAKE) --no-print-directory test-e2e
	$(MAKE) --no-print-directory test-package

test-cargo:
	cargo fmt --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	cargo test --workspace

# The window's view logic, in Vitest against a fake of api.ts (no Tauri, no daemon).
test-ui:
	npm --prefix ui test

test-e2e:
	$(E2E_ENV) tests/support/with-session.sh $(PYTHON) -m pytest tests/e2e -m "not package" $(PYTEST_ARGS)

# Last: it needs the release packages, and installs and removes the .deb on this machine.
test-package: package
	$(E2E_ENV) PIXY_PACKAGES_BUILT=1 tests/support/with-session.sh \
		$(PYTHON) -m pytest tests/e2e -m package $(PYTEST_ARGS)

## package ----------------------------------------------------------------------------------------

# The bundles ship both binaries: the bundler takes pixy-desktop from the release build and pixy as
# an external binary from build/pkg/ (named for the target, as Tauri wants; named in a config of its
# own, packaging/bundle-cli.conf.json, since Tauri's build script copies every external binary
# beside the one it builds: in every other build it would put this copy over cargo's `pixy`), with the man pages
# and shell completions that pixy generates from its own command-line definitions, so they cannot
# drift from it. The .deb is then re-packed with xz, dpkg's own default (the bundler writes gzip).
# AppImage is configured but not built: its bundler downloads tools at build time.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
HOST_TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
PKG_DIR := build/pkg
PKG_PIXY := $(PKG_DIR)/pixy-$(HOST_TRIPLE)

package: setup
	cargo build --release -p pixy-cli
	rm -rf $(PKG_DIR)
	mkdir -p $(PKG_DIR)/man $(PKG_DIR)/completions
	cp "$(CARGO_TARGET_DIR)/release/pixy" $(PKG_PIXY)
	$(PKG_PIXY) man-pages $(PKG_DIR)/man >/dev/null
	gzip -9n $(PKG_DIR)/man/*.1
	$(PKG_PIXY) completions bash > $(PKG_DIR)/completions/pixy.bash
	$(PKG_PIXY) completions zsh > $(PKG_DIR)/completions/_pixy
	$(PKG_PIXY) completions fish > $(PKG_DIR)/completions/pixy.fish
	npm --prefix ui exec -- tauri build --bundles deb,rpm --config packaging/bundle-cli.conf.json
	packaging/recompress-deb.sh "$(BUNDLE_DIR)/deb/Pixy_$(VERSION)_$(DEB_ARCH).deb"
	@ls -l "$(BUNDLE_DIR)/deb/Pixy_$(VERSION)_$(DEB_ARCH).deb" "$(BUNDLE_DIR)"/rpm/Pixy-$(VERSION)-*.rpm

# The icons are committed (the window embeds one when it is compiled); this regenerates them.
icons: setup-npm
	packaging/icons.sh icons

## bench ------------------------------------------------------------------------------------------

bench:
	cargo bench -p pixy-core --bench pkce
	cargo bench -p pixy-core --bench receiver
	cargo bench -p pixy-core --bench access_token
	bash tests/bench/daemon-rss.sh
	bash tests/bench/token-wall-time.sh
	tests/support/with-session.sh $(PYTHON) tests/bench/window.py
	bash tests/bench/sizes.sh
	bash tests/bench/opt-level.sh
	bash tests/bench/bloat.sh

## fuzz -------------------------------------------------------------------------------------------

# The callback request parser, the paste parser and the providers.toml parser under libFuzzer, each
# time-bounded. cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain provide
# them. The fuzzer keeps its own target dir.
FUZZ_RUNS ?= 10000000
FUZZ_SECONDS ?= 1200

FUZZ_TARGETS := callback_request paste providers_file resource_answers

fuzz:
	@command -v cargo-fuzz >/dev/null || env -u CARGO_TARGET_DIR cargo install cargo-fuzz --locked
	for target in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$target; \
		(cd fuzz && env -u CARGO_TARGET_DIR RUSTC_BOOTSTRAP=1 cargo fuzz run $$target \
			corpus/$$target seeds/$$target -- -runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_SECONDS)); \
	done
