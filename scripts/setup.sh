#!/usr/bin/env bash
# Installs whatever the build needs and is missing, at pinned versions; skips what is there.
# Sourced by build.sh, start.sh and test.sh. Nothing here may rely on a hand-installed tool.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export WRANGLER_SEND_METRICS=false
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$CARGO_HOME/bin:$PATH"

WORKER_BUILD_VERSION="0.8.7"
# wasm-bindgen-cli must be exactly the wasm-bindgen in Cargo.lock (pinned with `=` in Cargo.toml).
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# Gzipped size of a file as the bench measures it (Node's zlib at level 9; GNU gzip -9 says
# ~15 KB less for our wasm): build.sh logs it, test.sh holds the wasm to its budget with it.
gzipped() { node -e 'console.log(require("zlib").gzipSync(require("fs").readFileSync(process.argv[1]), { level: 9 }).length)' "$1"; }

ensure_rust_toolchain() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  local installed
  installed="$(rustup component list --installed 2>/dev/null)"
  for component in clippy rustfmt; do
    if ! grep -q "^$component" <<<"$installed"; then
      log "adding the $component component"
      rustup component add "$component"
    fi
  done
}

# ensure_cargo_tool <binary> <crate> <version>: cargo install unless that version is already there.
ensure_cargo_tool() {
  local bin="$1" crate="$2" version="$3"
  if "$CARGO_HOME/bin/$bin" --version 2>/dev/null | grep -qw "$version"; then
    return
  fi
  log "installing $crate $version (a few minutes, once per machine)"
  cargo install "$crate" --version "$version" --locked --quiet
}

# npm ci when node_modules is missing or was installed from another package-lock.json.
ensure_node_modules() {
  local stamp="node_modules/.edge-logger-lock"
  local want
  want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/wrangler ]; then
    return
  fi
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
}

# Debian's Chromium for the browser tests (playwright-core drives it; it never downloads one).
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then
    return
  fi
  log "installing Debian's chromium for the browser tests (once per machine)"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
}

# The Python and Ruby clients' tests: Python 3.9+ and Debian's Ruby (3.1, with minitest).
ensure_client_runtimes() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  local missing=()
  if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then missing+=(python3); fi
  if ! ruby -e 'exit(RUBY_VERSION >= "3.1" ? 0 : 1)' 2>/dev/null || ! ruby -e 'require "minitest"' 2>/dev/null; then missing+=(ruby); fi
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  log "installing Debian's ${missing[*]} for the client tests (once per machine)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# schemathesis for the contract test, pinned, in the project's own venv (scripts/schemathesis.sh
# installs it the same way when run by hand).
SCHEMATHESIS_VERSION="4.32.5"
ensure_schemathesis() {
  local venv=".tools/schemathesis-venv"
  if "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    return
  fi
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv (once per machine)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
}

# The OpenTelemetry Python SDK and its default exporter (OTLP/HTTP protobuf), pinned, in the
# project's own venv, for the agents' integration tests.
OTEL_PYTHON_VERSION="1.45.2"
ensure_otel_python() {
  local venv=".tools/otel-python-venv"
  if "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('opentelemetry-exporter-otlp-proto-http') != '$OTEL_PYTHON_VERSION')" 2>/dev/null; then
    return
  fi
  log "installing the OpenTelemetry Python SDK $OTEL_PYTHON_VERSION into $venv (once per machine)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "opentelemetry-sdk==$OTEL_PYTHON_VERSION" "opentelemetry-exporter-otlp-proto-http==$OTEL_PYTHON_VERSION"
}

# The real shippers the integration tests run (tests/shippers.test.mjs), from Debian's packages:
# syslog-ng with its HTTP module and SCL (elasticsearch-http()), and Prometheus (promtool
# included). rsyslog conflicts with syslog-ng as a package (both are the system's log daemon),
# so its packages are unpacked into .tools/rsyslog and run from there, never installed.
RSYSLOG_VERSION="8.2302.0"
ensure_shippers() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  local missing=()
  [ -x /usr/sbin/syslog-ng ] && [ -d /usr/share/syslog-ng/include/scl/elasticsearch ] || missing+=(syslog-ng-core syslog-ng-mod-http syslog-ng-scl)
  [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || missing+=(prometheus)
  # The alert channels' test sends to a real Alertmanager and reads it back with amtool.
  [ -x /usr/bin/prometheus-alertmanager ] && [ -x /usr/bin/amtool ] || missing+=(prometheus-alertmanager)
  local rsyslog=".tools/rsyslog"
  local have_rsyslog=0
  if "$rsyslog/usr/sbin/rsyslogd" -v 2>/dev/null | grep -q "$RSYSLOG_VERSION"; then have_rsyslog=1; fi
  if [ $have_rsyslog = 0 ]; then missing+=(libestr0 libfastjson4 liblognorm5 libcurl4); fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian's ${missing[*]} for the shippers' tests (once per machine)"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ $have_rsyslog = 0 ]; then
    log "unpacking Debian's rsyslog and rsyslog-elasticsearch into $rsyslog"
    local debs
    debs="$(mktemp -d)"
    chmod 755 "$debs"
    (cd "$debs" && apt-get download rsyslog rsyslog-elasticsearch >/dev/null)
    rm -rf "$rsyslog" && mkdir -p "$rsyslog"
    for deb in "$debs"/*.deb; do dpkg -x "$deb" "$rsyslog"; done
    rm -rf "$debs"
  fi
}

ensure_dev_vars() {
  if [ ! -f .dev.vars ]; then
    cp .dev.vars.example .dev.vars
    log "created .dev.vars from .dev.vars.example (admin token: dev-admin-token)"
  fi
}

setup_all() {
  ensure_rust_toolchain
  ensure_cargo_tool worker-build worker-build "$WORKER_BUILD_VERSION"
  ensure_cargo_tool wasm-bindgen wasm-bindgen-cli "$WASM_BINDGEN_VERSION"
  ensure_node_modules
  ensure_dev_vars
}
