# One image, every target: choose with COACHWIRE_TARGET (see compose.yaml).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/coachwire ./cmd/coachwire

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/coachwire /usr/local/bin/coachwire
USER nonroot
ENTRYPOINT ["/usr/local/bin/coachwire"]
