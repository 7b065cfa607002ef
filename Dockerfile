# The bgm image: the bot (default command) and the trainer (docker-compose.yml runs both from it).
# The model server is TF Serving's own image; this one never serves models in production.
FROM python:3.11-slim-bookworm

# true: also install TensorFlow's CUDA libraries (pip's tensorflow[and-cuda]) so `bgm train` uses a GPU.
# docker-compose.yml builds with true for the trainer; a plain `docker build .` stays CPU-only and small.
ARG WITH_CUDA=false

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# FluidSynth renders MIDI to audio; fluid-soundfont-gm is the General MIDI SoundFont it finds by default.
# libopus0 encodes Ogg Opus files and the radio's voice packets (discord.py loads it); named, as
# FluidSynth's dependencies bring it today but a slimmer base could lose it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fluidsynth fluid-soundfont-gm libopus0 libogg0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, against empty stand-in packages, so the large TensorFlow layer is rebuilt only when
# pyproject.toml or requirements.lock change, not on every source edit. The lock pins every version.
COPY pyproject.toml requirements.lock README.md ./
RUN for p in bgm composer training model_server bot cli lifecycle; do mkdir -p "$p" && touch "$p/__init__.py"; done \
    && extra="" && if [ "$WITH_CUDA" = "true" ]; then extra="tensorflow[and-cuda]"; fi \
    && pip install -c requirements.lock . $extra \
    && rm -rf bgm composer training model_server bot cli lifecycle build ./*.egg-info

# Now the real source, over the stand-ins (--no-deps: nothing above needs reinstalling).
COPY bgm ./bgm
COPY composer ./composer
COPY training ./training
COPY model_server ./model_server
COPY bot ./bot
COPY cli ./cli
COPY lifecycle ./lifecycle
RUN pip install --no-deps --force-reinstall -c requirements.lock . \
    && rm -rf build ./*.egg-info

# Non-root at run time. /data (bot state) and /app/runs (training checkpoints) are volume mount points;
# creating them here owned by the user makes fresh named volumes writable by it. uid 1000 is what a
# bind-mounted ./models must be writable by for the trainer.
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin bgm \
    && mkdir -p /data /app/runs /app/models /home/bgm/.cache \
    && chown -R bgm:bgm /data /app/runs /app/models /home/bgm/.cache
USER bgm

CMD ["bgm", "bot"]
