-- Prosody 0.12 configuration for the docker-compose stack (docs/deploy.md).
--
-- The exporter and the worker read this same file (mounted read-only) to find the hosted domains
-- and the certificate directory, so what Prosody serves and what is watched and renewed cannot
-- drift apart. Write hosts as literal statements (VirtualHost "example.org"): xmpp-cert reads
-- literal statements only, not names computed from ENV_ variables.
--
-- To use your own domain: replace "localhost" below (and in deploy/compose/xmpp-cert.yml's
-- probes.endpoints), add your Components, then `docker-compose up -d`.

admins = { }

modules_enabled = {
	"roster";
	"saslauth";
	"tls";
	"dialback";
	"disco";
	"carbons";
	"pep";
	"private";
	"blocklist";
	"vcard4";
	"vcard_legacy";
	"smacks";
	"ping";
	"time";
	"uptime";
	"version";
	-- Needed for the certificate reload: mod_posix writes the pidfile and turns SIGHUP into
	-- "reload config and certificates". Without it Prosody ignores the worker's SIGHUP.
	"posix";
}

-- The worker reads this pidfile (a volume shared read-only with it) and sends SIGHUP to the
-- process in it; both containers share one pid namespace (`pid: "service:prosody"`).
pidfile = "/var/run/prosody/prosody.pid"

-- To the console, which `docker-compose logs prosody` shows.
log = { info = "*console" }

authentication = "internal_hashed"
storage = "internal"

c2s_require_encryption = true
s2s_require_encryption = true
-- Remote servers must present valid certificates (Prosody's default; federation needs a CA-issued one).
s2s_secure_auth = true

-- The worker writes certs/<domain>/fullchain.pem + privkey.pem here (the `certs` volume), where
-- Prosody finds them by itself.
certificates = "certs"

VirtualHost "localhost"

-- Component "conference.localhost" "muc"
