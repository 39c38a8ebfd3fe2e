# Build with the official Rust image, run on slim Debian as a non-root user.
# One image serves both roles: `namesrv -c ...` or `broker -c ...`.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bins \
 && install -D -t /out target/release/namesrv target/release/broker target/release/standalone

FROM debian:bookworm-slim
RUN useradd --create-home --uid 10001 rocketmq
COPY --from=build /out/ /usr/local/bin/
COPY conf/ /home/rocketmq/conf/
USER rocketmq
WORKDIR /home/rocketmq
# The port to probe; the compose file sets it per service.
ENV RMQ_HEALTH_PORT=9876
HEALTHCHECK --interval=5s --timeout=2s --retries=12 \
  CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/${RMQ_HEALTH_PORT}'
EXPOSE 9876 10911
CMD ["namesrv"]
