#!/usr/bin/env bash
# WorldSample workspace tool: installs what the workspace needs (idempotently), then runs a
# command inside it. Every subcommand sets the workspace up first; a second run with
# nothing changed skips straight to the command.
#
#   ./ws launch insertion.launch.py [backend:=sim] [record:=true] ...   bring up a cell
#   ./ws test [pytest args]                                             run the test suite
#   ./ws bench [name ...]                                               run benchmarks
#   ./ws run <command> [args]                                           run a worldsample command
#   ./ws setup                                                          only set up
#   ./ws env                                                            print the exports (eval "$(./ws env)")
#
# Where a system ROS 2 (Jazzy/Kilted) is installed, the standard way works too:
#   colcon build --base-paths msg src && source install/setup.bash
#   ros2 launch worldsample insertion.launch.py
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${WS_VENV:-$ROOT/.venv}"
INSTALL="$ROOT/install"
PY_WANT="3.11"   # the ROS 2 Kilted wheels on PyPI are built for CPython 3.11
APT_PACKAGES=(libosmesa6 libusb-1.0-0 libegl1 libgl1)

log() { printf '\033[1;34m[ws]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[ws] error:\033[0m %s\n' "$*" >&2; exit 1; }

ensure_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

find_python() {
  for c in "python$PY_WANT" python3; do
    if command -v "$c" >/dev/null && [ "$("$c" -c 'import sys;print("%d.%d"%sys.version_info[:2])')" = "$PY_WANT" ]; then
      echo "$c"; return 0
    fi
  done
  die "CPython $PY_WANT is required (the ROS 2 wheels are cp311); none found on PATH"
}

ensure_venv() {
  local stamp="$VENV/.ws-requirements.sha256" want
  want="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    "$(find_python)" -m venv "$VENV"
  fi
  log "installing pinned Python packages (requirements.txt); first time takes about a minute"
  local out rc=0
  out="$("$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.txt" 2>&1)" || rc=$?
  [ -z "$out" ] || printf '%s\n' "$out" | grep -v "^WARNING: Location 'file://" >&2 || true
  [ "$rc" -eq 0 ] || die "pip install failed (exit $rc)"
  repair_cmake_exports
  echo "$want" >"$stamp"
  rm -f "$INSTALL/.ws-build.sha256"   # new packages: rebuild the workspace
}

# The ROS wheels carry CMake export files with the wheel builder's include paths; point them
# at this interpreter's and this numpy's include folders (DESIGN.md section 5).
repair_cmake_exports() {
  local py_inc np_inc
  py_inc="$("$VENV/bin/python" -c 'import sysconfig;print(sysconfig.get_paths()["include"])')"
  np_inc="$(_ROS_WHEELS_BOOTSTRAP_COMPLETE=1 "$VENV/bin/python" -c 'import numpy;print(numpy.get_include())')"
  local files
  files="$(grep -rlE '/opt/python/cp311-cp311/(include/python3.11|lib/python3.11/site-packages/numpy/_core/include)' \
    "$VENV/share" --include='*Export.cmake' 2>/dev/null || true)"
  [ -z "$files" ] && return 0
  log "repairing $(echo "$files" | wc -l) CMake export files from the ROS wheels"
  echo "$files" | xargs sed -i \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_inc#g" \
    -e "s#/opt/python/cp311-cp311/include/python3.11#$py_inc#g"
}

export_env() {
  local site="$VENV/lib/python$PY_WANT/site-packages" ld="$VENV/lib" d
  for d in "$site"/ros_*.libs; do [ -d "$d" ] && ld="$ld:$d"; done
  export VIRTUAL_ENV="$VENV"
  export PATH="$INSTALL/lib/worldsample:$INSTALL/bin:$VENV/bin:$PATH"
  export LD_LIBRARY_PATH="$INSTALL/lib:$ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PYTHONPATH="$INSTALL/lib/python$PY_WANT/site-packages${PYTHONPATH:+:$PYTHONPATH}"
  export AMENT_PREFIX_PATH="$INSTALL:$VENV"
  export CMAKE_PREFIX_PATH="$INSTALL:$VENV"
  export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1   # we set LD_LIBRARY_PATH ourselves: no re-exec
  export MUJOCO_GL="${MUJOCO_GL:-egl}"
  export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-$MUJOCO_GL}"
  export WORLDSAMPLE_ROOT="$ROOT"
  export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$ROOT/config/fastdds.xml}"
}

build_hash() {
  (cd "$ROOT" && find msg src launch config colcon.meta -type f \
      \( -name '*.msg' -o -name '*.srv' -o -name 'package.xml' -o -name 'CMakeLists.txt' \
         -o -name 'setup.py' -o -name 'setup.cfg' -o -name 'colcon.meta' -o -path '*/resource/*' \
         -o -name '*.py' -o -name '*.yaml' -o -name '*.rviz' -o -name '*.xml' \) -print0 \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}

ensure_build() {
  local stamp="$INSTALL/.ws-build.sha256" want
  want="$(build_hash)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "building the workspace with colcon (msg/, src/)"
  (cd "$ROOT" && colcon --log-base "$ROOT/log" build --merge-install \
      --base-paths msg src --metas colcon.meta --event-handlers console_direct- \
      >"$ROOT/log/ws-build.txt" 2>&1) \
    || { tail -40 "$ROOT/log/ws-build.txt" >&2; die "colcon build failed (full log: log/ws-build.txt)"; }
  echo "$want" >"$stamp"
}

setup() {
  ensure_apt
  ensure_venv
  export_env
  mkdir -p "$ROOT/log"
  ensure_build
}

cmd="${1:-}"; [ $# -gt 0 ] && shift
case "$cmd" in
  setup) setup; log "workspace ready" ;;
  env)
    setup >/dev/null
    for v in VIRTUAL_ENV PATH LD_LIBRARY_PATH PYTHONPATH AMENT_PREFIX_PATH CMAKE_PREFIX_PATH \
             _ROS_WHEELS_BOOTSTRAP_COMPLETE MUJOCO_GL PYOPENGL_PLATFORM WORLDSAMPLE_ROOT FASTDDS_DEFAULT_PROFILES_FILE; do
      printf 'export %s=%q\n' "$v" "${!v}"
    done ;;
  launch)
    setup
    exec python -m worldsample.launch_runner "$@" ;;
  test)
    setup
    cd "$ROOT"
    [ $# -gt 0 ] || set -- test
    exec python -m pytest "$@" ;;
  bench)
    setup
    cd "$ROOT"
    exec python -m test.benchmark.run "$@" ;;
  run)
    setup
    [ $# -gt 0 ] || die "usage: ./ws run <command> [args]  (commands: see README)"
    exec "$@" ;;
  ""|-h|--help|help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown subcommand '$cmd' (try ./ws help)" ;;
esac
