#!/usr/bin/env bash
# Installs what bgm needs on a Debian machine: FluidSynth and a General MIDI
# SoundFont from apt, then a virtual environment at .venv with bgm in it,
# pinned by requirements.lock. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_packages=()
command -v fluidsynth >/dev/null || apt_packages+=(fluidsynth)
# bgm synthesises through libfluidsynth (the program's library) and writes Ogg Opus through libopus
# and libogg, which FluidSynth's libsndfile1 brings; named here so a slimmed image cannot lose them.
# discord.py encodes the radio's voice packets with the same libopus.
for lib in libfluidsynth.so.3:libfluidsynth3 libopus.so.0:libopus0 libogg.so.0:libogg0; do
  ldconfig -p 2>/dev/null | grep -q "${lib%%:*}" || apt_packages+=("${lib##*:}")
done
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || apt_packages+=(fluid-soundfont-gm)
# The scaled-out deployment's engines (docs/scaling.md); its tests start their own servers.
command -v redis-server >/dev/null || apt_packages+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_packages+=(postgresql)
command -v "$PYTHON" >/dev/null || apt_packages+=(python3.11 python3.11-venv)
if command -v "$PYTHON" >/dev/null && ! "$PYTHON" -c "import ensurepip, venv" 2>/dev/null; then
  apt_packages+=(python3.11-venv)
fi
# The tests validate docker-compose.yml when a compose is available; Debian ships Compose v1.
if command -v docker >/dev/null && ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  apt_packages+=(docker-compose)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "installing ${apt_packages[*]} with apt"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c requirements.lock -e ".[test,bench]"
echo "bgm is installed in .venv (try: .venv/bin/bgm --help)"
