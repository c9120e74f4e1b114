# pidicon-mqtt: a static binary on a distroless base, running as non-root.
#   docker build -t pidicon-mqtt .
#   docker run -v pidicon-data:/data -v ./config.yaml:/config.yaml:ro pidicon-mqtt --config /config.yaml

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/pidicon-mqtt ./cmd/pidicon-mqtt \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="pidicon-mqtt" \
      org.opencontainers.image.description="Pixel displays (Pixoo 64, AWTRIX 3) as MQTT devices" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/pidicon-mqtt /usr/local/bin/pidicon-mqtt
# The state file lives in /data (runtime-state.json); keep it on a volume.
COPY --from=build --chown=65532:65532 /out/data /data
VOLUME /data
USER 65532:65532
EXPOSE 1883
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/pidicon-mqtt"]
