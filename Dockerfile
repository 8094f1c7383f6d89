# One image, every target: choose with COACHWIRE_TARGET (see compose.yaml).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/coachwire ./cmd/coachwire
# The mount points, empty: a named volume mounted on one starts as a copy of it, ownership
# included, so the non-root user can write the JWT key file (/keys) and uploads (/files).
RUN mkdir -p /out/mnt/keys /out/mnt/files /out/mnt/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/coachwire /usr/local/bin/coachwire
# 65532 is distroless's nonroot user.
COPY --from=build --chown=65532:65532 /out/mnt/keys /keys
COPY --from=build --chown=65532:65532 /out/mnt/files /files
COPY --from=build --chown=65532:65532 /out/mnt/data /data
USER 65532:65532
WORKDIR /data
ENV COACHWIRE_DATA_DIR=/data
ENTRYPOINT ["/usr/local/bin/coachwire"]
