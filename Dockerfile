# hwquant with TensorFlow:  docker run --rm -v "$PWD:/work" IMAGE build
# BASE is any Debian-like image with python3 (the tests use a debootstrapped bookworm).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
RUN if ! command -v python3 >/dev/null || ! python3 -m venv --help >/dev/null 2>&1; then \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; fi \
    && python3 -m venv /opt/hwquant
ENV PATH=/opt/hwquant/bin:$PATH TF_CPP_MIN_LOG_LEVEL=3 HWQUANT_CACHE_DIR=/work/.hwquant-cache
# Optional docker-extra/: wheels to install from (offline builds) and ca.crt, a CA bundle for
# networks that intercept TLS (used for the install only, not kept in the image).
COPY pyproject.toml docker-extra* /extra/
COPY pyproject.toml README.md LICENSE /src/
COPY src /src/src
RUN if [ -s /extra/ca.crt ]; then export PIP_CERT=/extra/ca.crt; fi; \
    pip install --no-cache-dir --find-links /extra "/src[build]" && rm -rf /extra
WORKDIR /work
ENTRYPOINT ["hwquant"]
CMD ["--help"]
