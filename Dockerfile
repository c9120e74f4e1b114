# pidicon-mqtt: a static binary on a distroless base, running as non-root.
#   docker build -t pidicon-mqtt .
#   docker run -v pidicon-data:/data -v ./config.yaml:/config.yaml:ro pidicon-mqtt --config /config.yaml
# For the platforms Home Assistant runs on (no emulation: Go cross-compiles
# on the build machine's own platform):
#   docker buildx build --platform linux/amd64,linux/arm64,linux/arm/v7 -t pidicon-mqtt .
# examples/docker-compose.yml runs it with a mosquitto broker.
#
# Base images are fully qualified (podman and buildah refuse short names)
# and pinned by the digest of their multi-platform index. The Go image's
# version must be at least go.mod's "go" line: the image sets
# GOTOOLCHAIN=local, so it never downloads another toolchain.

FROM --platform=$BUILDPLATFORM docker.io/library/golang:1.26.8-bookworm@sha256:9fdc884aacc3bec89b20ffc69f4bb369c78210e3e4f600387b5128b12c199f81 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Set by BuildKit (buildx, podman, buildah) for the platform being built.
ARG TARGETPLATFORM
ARG BUILDPLATFORM
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG TARGETVARIANT
# timetzdata: the time zone database is in the binary, so TZ works on any
# base image. GOARM comes from the variant (linux/arm/v7: 7).
RUN if [ "$TARGETARCH" = arm ]; then export GOARM="${TARGETVARIANT#v}"; fi \
 && CGO_ENABLED=0 GOOS="$TARGETOS" GOARCH="$TARGETARCH" \
      go build -trimpath -tags timetzdata -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/pidicon-mqtt ./cmd/pidicon-mqtt \
 && if [ "$TARGETPLATFORM" = "$BUILDPLATFORM" ]; then /out/pidicon-mqtt version; fi \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot@sha256:b7bb25d9f7c31d2bdd1982feb4dafcaf137703c7075dbe2febb41c24212b946f
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pidicon-mqtt" \
      org.opencontainers.image.description="Pixel displays (Pixoo 64, AWTRIX 3) as MQTT devices" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/pidicon/pidicon-mqtt" \
      org.opencontainers.image.url="https://github.com/pidicon/pidicon-mqtt" \
      org.opencontainers.image.documentation="https://github.com/pidicon/pidicon-mqtt#running-as-a-service" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/pidicon-mqtt /usr/local/bin/pidicon-mqtt
# The state file lives in /data (runtime-state.json); keep it on a volume.
# Set explicitly: a /data that is not writable is then reported (an error
# at start-up, /healthz 503), instead of the state going to a folder inside
# the container. A named volume takes this folder's owner (65532); a
# folder of the host mounted here must belong to 65532 too (chown).
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
ENV PIDICON_STATE_DIR=/data
USER 65532:65532
# The clock scene and schedules use the local time zone: set TZ, e.g.
# docker run -e TZ=Europe/Berlin (UTC without it).
# The HTTP endpoint (/healthz, /metrics) is on in the image: the
# HEALTHCHECK below asks it. The variable wins over a config file's
# http.listen, so the daemon and the healthcheck agree.
ENV PIDICON_HTTP_LISTEN=:8080
# 1883: the embedded broker, when it listens beyond loopback (broker.listen
# 0.0.0.0:1883 with broker.users); 8080: /healthz and /metrics.
EXPOSE 1883 8080
STOPSIGNAL SIGTERM
# No shell in the image: the binary checks itself (exit 0 when /healthz
# answers 200: connected to the broker, state restored, state file
# writable). Images built as OCI (buildah, podman) drop HEALTHCHECK: the
# compose example declares the same check.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/pidicon-mqtt", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pidicon-mqtt"]
