# syntax=docker/dockerfile:1
# The operator image: a static (musl) binary on distroless/static, running as UID 65532.
#   docker build -t redis-operator:0.1.0 .

FROM rust:1.95-alpine AS build
# ring (TLS to the API server) compiles C code: a C compiler and the static musl C library.
RUN apk add --no-cache gcc musl-dev
WORKDIR /build
COPY . .
# crt-static: the binary needs no libc at run time (the final image has none).
ENV RUSTFLAGS="-C target-feature=+crt-static"
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked -p redis-operator --bin redis-operator \
    && cp target/release/redis-operator /redis-operator
# The binary runs (and prints the CRDs it serves) before it is shipped.
RUN /redis-operator crd > /dev/null

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="redis-operator" \
      org.opencontainers.image.description="Kubernetes operator for Redis: standalone, replication, sentinel and cluster" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /redis-operator /redis-operator
USER 65532:65532
ENTRYPOINT ["/redis-operator"]
CMD ["run"]
