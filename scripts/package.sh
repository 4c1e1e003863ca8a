#!/usr/bin/env bash
# Release artifacts in dist/, in the layout the Terraform registry and
# `terraform providers mirror` use:
#   terraform-provider-mcp_{VERSION}_{os}_{arch}.zip   (the binary terraform-provider-mcp_v{VERSION})
#   terraform-provider-mcp_{VERSION}_manifest.json     (protocol version 6.0)
#   terraform-provider-mcp_{VERSION}_SHA256SUMS        (every archive and the manifest; `sha256sum -c` checks it)
#   mcpgate_{VERSION}_{os}_{arch}.tar.gz               (the server, README, licence)
#   mirror/registry.terraform.io/mcpgate/mcp/          (a filesystem mirror, packed layout, with the
#                                                       network mirror protocol's index.json and {VERSION}.json,
#                                                       so any static HTTPS server can serve it as a network mirror)
# The version is Cargo.toml's. Builds for the host, and for every other
# target `rustup target list --installed` names (skipped, with a note, when
# its linker is missing).
#   ./scripts/package.sh                    release builds
#   ./scripts/package.sh --profile dev      the debug builds
#   ./scripts/package.sh --prebuilt DIR     the host's binaries already in DIR, unbuilt (the tests)
#   ./scripts/package.sh --dist DIR         somewhere else than dist/
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/tools.sh
need cargo "the Rust toolchain (rustup)"
need_python
need sha256sum "coreutils (sha256sum)"

PROFILE=release
PREBUILT=""
DIST="$MCPGATE_ROOT/dist"
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) PROFILE="${2:?--profile needs a cargo profile, e.g. dev}"; shift 2 ;;
        --prebuilt) PREBUILT="${2:?--prebuilt needs the directory holding mcpgate and terraform-provider-mcp}"; shift 2 ;;
        --dist) DIST="${2:?--dist needs a directory}"; shift 2 ;;
        *) die "unknown option $1 (see the comment at the top of scripts/package.sh)" ;;
    esac
done
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
[ -n "$VERSION" ] || die "cannot read the version from Cargo.toml"
MIRROR="$DIST/mirror/registry.terraform.io/mcpgate/mcp"
# Only what an earlier run made goes: --dist may name a directory holding more.
rm -rf "$DIST/mirror" "$DIST"/terraform-provider-mcp_* "$DIST"/mcpgate_*
mkdir -p "$MIRROR"

# Terraform's name for a Rust target triple: os_arch (empty: not a platform Terraform knows).
platform() {
    local arch os
    case "$1" in
        x86_64-*) arch=amd64 ;;
        aarch64-*) arch=arm64 ;;
        i686-*) arch=386 ;;
        *) return ;;
    esac
    case "$1" in
        *-linux-*) os=linux ;;
        *-apple-darwin) os=darwin ;;
        *-windows-*) os=windows ;;
        *-freebsd) os=freebsd ;;
        *) return ;;
    esac
    echo "${os}_${arch}"
}

host="$(rustc -vV | sed -n 's/^host: //p')"
targets=("$host")
if [ -z "$PREBUILT" ] && command -v rustup >/dev/null 2>&1; then
    while read -r target; do
        [ "$target" != "$host" ] && [ -n "$(platform "$target")" ] && targets+=("$target")
    done < <(rustup target list --installed 2>/dev/null)
fi

packaged=()
for target in "${targets[@]}"; do
    os_arch="$(platform "$target")"
    [ -n "$os_arch" ] || die "the host $target is not a platform Terraform knows"
    if [ -n "$PREBUILT" ]; then
        out="$PREBUILT"
    else
        step "building mcpgate and terraform-provider-mcp for $target ($PROFILE)"
        target_args=()
        [ "$target" = "$host" ] || target_args=(--target "$target")
        if ! cargo build --locked --profile "$PROFILE" "${target_args[@]}" --bin mcpgate --bin terraform-provider-mcp; then
            [ "$target" = "$host" ] && die "the host build failed"
            echo "note: skipping $target: its build failed (is its linker installed?)" >&2
            continue
        fi
        out="target"
        [ "$target" = "$host" ] || out="target/$target"
        case "$PROFILE" in
            dev) out="$out/debug" ;;
            *) out="$out/$PROFILE" ;;
        esac
    fi
    exe=""
    [[ "$os_arch" == windows_* ]] && exe=".exe"
    python3 - "$out/terraform-provider-mcp$exe" "terraform-provider-mcp_v$VERSION$exe" "$DIST/terraform-provider-mcp_${VERSION}_${os_arch}.zip" <<'PY'
import sys, zipfile
source, name, archive = sys.argv[1:4]
with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zip:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16  # a regular file, executable
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(source, "rb") as binary:
        zip.writestr(info, binary.read())
PY
    staging="$(mktemp -d)"
    mkdir "$staging/mcpgate_${VERSION}_${os_arch}"
    cp "$out/mcpgate$exe" README.md LICENSE "$staging/mcpgate_${VERSION}_${os_arch}/"
    tar -C "$staging" -czf "$DIST/mcpgate_${VERSION}_${os_arch}.tar.gz" "mcpgate_${VERSION}_${os_arch}"
    rm -rf "$staging"
    cp "$DIST/terraform-provider-mcp_${VERSION}_${os_arch}.zip" "$MIRROR/"
    packaged+=("$os_arch")
done

printf '{\n  "version": 1,\n  "metadata": {\n    "protocol_versions": ["6.0"]\n  }\n}\n' >"$DIST/terraform-provider-mcp_${VERSION}_manifest.json"
(cd "$DIST" && sha256sum terraform-provider-mcp_*.zip terraform-provider-mcp_*_manifest.json mcpgate_*.tar.gz >"terraform-provider-mcp_${VERSION}_SHA256SUMS")

# The network mirror protocol's index (versions) and version document
# (archives with their h1: hashes, Terraform's hash of the unpacked files).
python3 - "$MIRROR" "$VERSION" <<'PY'
import base64, hashlib, json, os, sys, zipfile
mirror, version = sys.argv[1:3]
archives = {}
for archive in sorted(os.listdir(mirror)):
    if not archive.endswith(".zip"):
        continue
    platform = archive[len(f"terraform-provider-mcp_{version}_"):-len(".zip")]
    with zipfile.ZipFile(os.path.join(mirror, archive)) as zip:
        lines = "".join(f"{hashlib.sha256(zip.read(name)).hexdigest()}  {name}\n" for name in sorted(zip.namelist()))
    h1 = "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()
    archives[platform] = {"url": archive, "hashes": [h1]}
with open(os.path.join(mirror, "index.json"), "w") as index:
    json.dump({"versions": {version: {}}}, index, indent=2)
with open(os.path.join(mirror, f"{version}.json"), "w") as document:
    json.dump({"archives": archives}, document, indent=2)
PY

step "packaged $VERSION for ${packaged[*]} in ${DIST#$MCPGATE_ROOT/}"
(cd "$DIST" && ls -1 && sha256sum -c --quiet "terraform-provider-mcp_${VERSION}_SHA256SUMS")
