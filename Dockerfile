# Build: docker build -t crmauthz:latest .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /out/crmauthz ./cmd/crmauthz

# Distroless, non-root: nothing in the image but the binary.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/crmauthz /crmauthz
USER 65532:65532
ENTRYPOINT ["/crmauthz"]
