# The xmpp-cert image: one image for the exporter (`serve`, the default command) and the renewal
# worker (`worker`). Two stages: the first compiles TypeScript with the dev dependencies, the
# second holds only the runtime dependencies, dist/ and the files the CLI reads at run time.
# It runs as the unprivileged user xmpp-cert (uid/gid 10522). It does not contain Prosody,
# Prometheus or Grafana: docker-compose.yml runs those from their own images.
# Build: docker build -t xmpp-cert .   (docs/deploy.md)

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
# `xmpp-cert dashboard`, `setup` and the docs refer to these files inside the package.
COPY examples ./examples
COPY prometheus ./prometheus
COPY grafana ./grafana
COPY deploy ./deploy

# A fixed uid, so that files on shared volumes keep one owner across containers: deploy/prosody/
# runs Prosody under the same uid, which lets the worker signal it and lets Prosody read the
# 0600 keys the worker writes. The volume mount points are created here, owned by that user,
# because an empty named volume takes the owner of the directory it is first mounted on.
RUN groupadd --system --gid 10522 xmpp-cert \
 && useradd --system --uid 10522 --gid 10522 --home-dir /var/lib/xmpp-cert --no-create-home --shell /usr/sbin/nologin xmpp-cert \
 && mkdir -p /etc/xmpp-cert /var/lib/xmpp-cert /etc/prosody/certs /var/run/prosody \
 && chown xmpp-cert:xmpp-cert /var/lib/xmpp-cert /etc/prosody/certs /var/run/prosody \
 && chmod 0750 /var/lib/xmpp-cert
# The default config is the compose stack's (mount your own over it).
COPY deploy/compose/xmpp-cert.yml /etc/xmpp-cert/xmpp-cert.yml

USER 10522:10522
VOLUME ["/var/lib/xmpp-cert"]
EXPOSE 10522
# The exporter's check (the worker serves no HTTP: docker-compose.yml gives it its own). No curl
# or wget in the slim image: node asks /healthz itself. With basic auth in web-config.yml /healthz
# answers 401 too: override the check in that case.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "require('http').get('http://127.0.0.1:10522/healthz', (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["serve", "--config", "/etc/xmpp-cert/xmpp-cert.yml"]
