# pidicon-mqtt: a static binary on a distroless base, running as non-root.
#   docker build -t pidicon-mqtt .
#   docker run -v pidicon-data:/data -v ./config.yaml:/config.yaml:ro pidicon-mqtt --config /config.yaml
# examples/docker-compose.yml runs it with a mosquitto broker.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/pidicon-mqtt ./cmd/pidicon-mqtt \
 && /out/pidicon-mqtt version \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
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
# Set explicitly: a /data that is not writable is then reported, instead of
# the state going to a folder inside the container.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
ENV PIDICON_STATE_DIR=/data
USER 65532:65532
# The HTTP endpoint (/healthz, /metrics) is on in the image: the
# HEALTHCHECK below asks it. The variable wins over a config file's
# http.listen, so the daemon and the healthcheck agree.
ENV PIDICON_HTTP_LISTEN=:8080
# 1883: the embedded broker, when it listens beyond loopback (broker.listen
# 0.0.0.0:1883 with broker.users); 8080: /healthz and /metrics.
EXPOSE 1883 8080
STOPSIGNAL SIGTERM
# No shell in the image: the binary checks itself (exit 0 when /healthz
# answers 200: connected to the broker, state restored).
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/pidicon-mqtt", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pidicon-mqtt"]
