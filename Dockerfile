# syntax=docker/dockerfile:1
# The weatherlog image: built with Rust on Debian bookworm, run on bookworm-slim (the same glibc,
# 2.36, so the binary needs no static linking), as a non-root user, with only the binary and the
# CA certificates in it. Build: `docker compose build api` or `docker build -t weatherlog .`

# cargo-chef caches the dependencies in a layer of their own. `prepare` reduces the project to a
# recipe (manifests and lock file only); `cook` builds just the dependencies from it. The recipe
# changes only when Cargo.toml or Cargo.lock change, so an edit to src/ reuses the cooked layer
# and only recompiles our own crate.
FROM rust:1.95.0-slim-bookworm AS chef
# Pinned, like the images, so two builds of one commit use the same tool.
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Same profile, flags and target as the build below, or cargo would not reuse these artifacts.
RUN cargo chef cook --release --locked --bin weatherlog --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin weatherlog

FROM debian:bookworm-20260610-slim AS runtime

# Set them at build time to stamp the image, e.g. --build-arg REVISION="$(git rev-parse HEAD)".
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="weatherlog" \
      org.opencontainers.image.description="Current weather with a five-minute Redis cache, and a weather log in MongoDB, over REST." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-20260610-slim"

# CA certificates, for TLS to OpenWeatherMap or a hosted MongoDB or Redis. The pin keeps builds
# repeatable; Debian drops superseded versions from its mirrors, so when apt no longer finds
# this one, bump it to what `apt-cache policy ca-certificates` shows in this base image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20250419~deb12u2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin weatherlog

COPY --from=builder /app/target/release/weatherlog /usr/local/bin/weatherlog

# A numeric user, so a platform can check that it is not root without reading /etc/passwd.
USER 10001:10001
# The binary's defaults are HOST=0.0.0.0 and PORT=8080: every interface, this port.
EXPOSE 8080
# No curl in the image: the binary asks its own /health/ready (503 when MongoDB is down).
# The start period covers MONGODB_STARTUP_TIMEOUT_SECONDS (30 s by default).
HEALTHCHECK --interval=10s --timeout=5s --start-period=40s --retries=3 \
    CMD ["weatherlog", "healthcheck"]
# Exec form: weatherlog is PID 1 and gets SIGTERM itself, so `docker stop` lets in-flight
# requests finish (up to 10 s) instead of killing a shell in front of it.
ENTRYPOINT ["weatherlog"]
CMD ["serve"]
