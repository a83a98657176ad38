# peaka-wait as a container: a build stage that compiles a static binary,
# and a final stage that holds only that binary.
#
#   docker build -t peaka-wait .
#   docker run --rm -e PEAKA_API_KEY -e PEAKA_PROJECT_ID=P -e PEAKA_CACHE_ID=C peaka-wait
#
# Every setting comes from the environment (PEAKA_*), so Kubernetes can
# configure it without arguments. The final image has no shell, no CA store
# (peaka-wait carries Mozilla's roots) and runs as a numeric non-root user.

# musl makes the binary fully static, so the final stage can be scratch.
FROM rust:1.95-alpine AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p peaka-wait \
    && cp target/release/peaka-wait /peaka-wait

FROM scratch
COPY --from=build /peaka-wait /peaka-wait
# The distroless "nonroot" uid: no name needed, Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/peaka-wait"]
