#!/usr/bin/env bash
# Install the dbt packages pinned in packages.yml.
#   1. already installed for this packages.yml  -> nothing to do
#   2. the dbt hub answers                       -> `dbt deps` (the normal way)
#   3. otherwise                                 -> copy from the offline mirror folder
#      $DBT_PACKAGES_MIRROR (default ~/.cache/dbt-packages-mirror): elementary/ and dbt_utils/
# Usage: scripts/dbt_deps.sh [--offline]   (--offline skips the hub)
set -euo pipefail

cd "$(dirname "$0")/.."
DBT=${DBT:-.venv/bin/dbt}
MIRROR=${DBT_PACKAGES_MIRROR:-$HOME/.cache/dbt-packages-mirror}
PACKAGES_DIR=dbt_packages
STAMP="$PACKAGES_DIR/.installed-for"
ELEMENTARY_VERSION=0.25.1
DBT_UTILS_VERSION=1.4.1
HUB_TIMEOUT=${DBT_DEPS_HUB_TIMEOUT:-90}
export DBT_PROFILES_DIR=${DBT_PROFILES_DIR:-profiles}

wanted=$(sha256sum packages.yml | cut -c1-16)
if [[ -f "$STAMP" ]] && [[ "$(cut -d' ' -f1 "$STAMP")" == "$wanted" ]] \
   && [[ -f "$PACKAGES_DIR/elementary/dbt_project.yml" && -f "$PACKAGES_DIR/dbt_utils/dbt_project.yml" ]]; then
  echo "dbt packages: already installed ($(cut -d' ' -f2- "$STAMP"))"
  exit 0
fi

if [[ "${1:-}" != "--offline" && "${DBT_DEPS_OFFLINE:-0}" != "1" ]]; then
  echo "dbt packages: trying the dbt hub (dbt deps, at most ${HUB_TIMEOUT}s) ..."
  if timeout "$HUB_TIMEOUT" "$DBT" deps --quiet >/tmp/dbt-deps-hub.$$.log 2>&1; then
    echo "$wanted hub" >"$STAMP"
    rm -f /tmp/dbt-deps-hub.$$.log
    echo "dbt packages: installed from the dbt hub"
    exit 0
  fi
  echo "dbt packages: the hub could not be reached ($(grep -v "^[[:space:]]*$" /tmp/dbt-deps-hub.$$.log | tail -n 1 | cut -c1-160))"
  rm -f /tmp/dbt-deps-hub.$$.log
fi

mirror_ok=1
[[ -f "$MIRROR/elementary/dbt_project.yml" ]] || mirror_ok=0
[[ -f "$MIRROR/dbt_utils/dbt_project.yml" ]] || mirror_ok=0
if [[ $mirror_ok == 0 ]]; then
  cat >&2 <<MSG
ERROR: cannot install the dbt packages.
  The dbt hub did not answer, and the offline mirror folder
      $MIRROR
  does not hold both packages. Put there (or point DBT_PACKAGES_MIRROR at a folder with):
      $MIRROR/elementary/   the Elementary dbt package $ELEMENTARY_VERSION (github.com/elementary-data/dbt-data-reliability, tag $ELEMENTARY_VERSION)
      $MIRROR/dbt_utils/    dbt_utils $DBT_UTILS_VERSION (github.com/dbt-labs/dbt-utils, tag $DBT_UTILS_VERSION)
  each folder being the package's root (with its dbt_project.yml), e.g.
      git -C dbt-data-reliability archive $ELEMENTARY_VERSION | tar -x -C $MIRROR/elementary
  and remove $MIRROR/elementary/packages.yml (it points back to the hub). See README.md, "Offline install".
MSG
  exit 1
fi

found=$(sed -n 's/^version: *["'\'']\{0,1\}\([0-9.]*\).*/\1/p' "$MIRROR/elementary/dbt_project.yml")
if [[ "$found" != "$ELEMENTARY_VERSION" ]]; then
  echo "ERROR: $MIRROR/elementary holds Elementary $found, this project pins $ELEMENTARY_VERSION." >&2
  exit 1
fi
if [[ -f "$MIRROR/elementary/packages.yml" ]]; then
  echo "ERROR: $MIRROR/elementary/packages.yml exists; remove it (it sends dbt back to the hub)." >&2
  exit 1
fi

rm -rf "$PACKAGES_DIR"
mkdir -p "$PACKAGES_DIR"
cp -R "$MIRROR/elementary" "$PACKAGES_DIR/elementary"
cp -R "$MIRROR/dbt_utils" "$PACKAGES_DIR/dbt_utils"
echo "$wanted mirror $MIRROR" >"$STAMP"
echo "dbt packages: installed from the offline mirror $MIRROR"
