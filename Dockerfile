# Manifold's container image.
#
#   docker build -t manifold .                      # builds the binary in rust:1-bookworm
#   cargo build --release --locked --features otel && \
#   docker build --target runtime-prebuilt -t manifold .   # copies target/release/manifold
#
# Both targets give the same runtime: debian:bookworm-slim with ca-certificates,
# user `manifold` (uid/gid 10001), the data folder /data as a volume, listening
# on 0.0.0.0:8080. A host-built binary must link against glibc 2.36 or older
# (build it on Debian 12 or older).
#
# The runtime stages come first: the legacy (non-BuildKit) builder builds every
# stage before the one it targets, so `--target runtime-prebuilt` never needs
# the Rust image there either. There is no `# syntax=` line on purpose: it makes
# BuildKit pull a frontend image, which breaks offline builds.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ------------------------------------------------------------ runtime-base ---
FROM ${RUNTIME_IMAGE} AS runtime-base

# ca-certificates is the only package added (HTTPS upstreams, OAuth, rediss://,
# PostgreSQL TLS). A base that already carries it (an offline-made base image)
# is left as it is, so the stage also builds without a network.
RUN set -eu; \
    if ! dpkg-query -W -f='${Status}' ca-certificates 2>/dev/null | grep -q 'install ok installed'; then \
        apt-get update; \
        apt-get install -y --no-install-recommends ca-certificates; \
        rm -rf /var/lib/apt/lists/*; \
    fi; \
    groupadd --gid 10001 manifold; \
    useradd --uid 10001 --gid 10001 --no-log-init --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin manifold; \
    install -d -o 10001 -g 10001 -m 0700 /data; \
    install -d -m 0755 /etc/manifold

# /data holds the SQLite catalog, the generated admin key and secrets key
# (`data_dir`). A new named volume takes the folder's owner (10001) from the
# image. /etc/manifold is the working folder, so a settings file mounted at
# /etc/manifold/manifold.toml is read without `--config`.
ENV MANIFOLD_LISTEN=0.0.0.0:8080 \
    MANIFOLD_DATA_DIR=/data
VOLUME ["/data"]
WORKDIR /etc/manifold
USER 10001:10001
EXPOSE 8080

# There is no curl in the image and no health subcommand in the binary: bash
# (part of every Debian base) speaks HTTP over /dev/tcp to the port in
# MANIFOLD_LISTEN. /healthz only says the process is alive; use /readyz for
# load balancers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${MANIFOLD_LISTEN##*:} && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 2 status <&3 && [[ $status == 'HTTP/1.1 200'* ]]"]

# `manifold serve` drains on SIGTERM; give `docker stop` enough time (-t).
STOPSIGNAL SIGTERM
ENTRYPOINT ["manifold"]
CMD ["serve"]

# -------------------------------------------------------- runtime-prebuilt ---
# The binary from the host's `cargo build --release`, for hosts where no Rust
# image can be pulled (the test suite builds this target offline).
FROM runtime-base AS runtime-prebuilt
COPY target/release/manifold /usr/local/bin/manifold

# ----------------------------------------------------------------- builder ---
FROM ${RUST_IMAGE} AS builder
# Cargo features, space-separated: OpenTelemetry traces (`otel`, off until
# OTEL_EXPORTER_OTLP_ENDPOINT is set) by default; --build-arg CARGO_FEATURES=
# builds without.
ARG CARGO_FEATURES="otel"
WORKDIR /src
COPY . .
# The registry and target folders are cache mounts, so a rebuild only compiles
# what changed; the binary is copied out of the cache mount into the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked ${CARGO_FEATURES:+--features "$CARGO_FEATURES"} && \
    install -m 0755 target/release/manifold /usr/local/bin/manifold

# ----------------------------------------------------------------- runtime ---
# The default target.
FROM runtime-base AS runtime
COPY --from=builder /usr/local/bin/manifold /usr/local/bin/manifold
