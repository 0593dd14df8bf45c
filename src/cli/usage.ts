/**
 * The usage text and the error that prints it.
 *
 * @module
 */

import { VERSION } from "../version.ts";

/** Usage text, printed by `--help` and after a usage error. */
export const USAGE = `hoard ${VERSION}: a caching HTTP/HTTPS forward proxy for CI

Usage: hoard [serve] [options]        run the proxy
       hoard env [--for CLIENTS] [--format sh|fish|github|json] [--no-proxy LIST]
                                      print the variables that make clients use
                                      hoard and trust its CA (all clients, or
                                      CLIENTS: npm,pip,cargo,go,maven,...)
       hoard ca [--pem]               print the CA certificate's path (or PEM)
       hoard stats                    entries, bytes and the last run's counters
       hoard prune [--max-size SIZE] [--unused-for DURATION]
                                      evict least recently used entries down to
                                      SIZE; drop those no run used for DURATION
       hoard stats --shared           what the shared cache's bucket holds
       hoard prune --shared --older-than DURATION
                                      delete shared objects uploaded longer ago
  env and ca take --host, --port, --cache-dir, --ca-dir, --ca-cert, --ca-key as
  serve does, so that all three agree; stats and prune take --cache-dir, and with
  --shared, --shared-cache (or $HOARD_SHARED_CACHE).

Options:
  --host HOST               address to listen on (default 127.0.0.1)
  --port PORT               port to listen on; 0 picks a free one (default 8080)
  --cache-dir DIR           cache directory (default $HOARD_CACHE_DIR, else the
                            user cache directory + /hoard)
  --max-size SIZE           cache size cap, e.g. 500M, 5G (default 10G); least
                            recently used entries are evicted beyond it
  --shared-cache s3://BUCKET[/PREFIX]
                            a second tier shared by a fleet (default
                            $HOARD_SHARED_CACHE): read after the local cache,
                            written behind clients; credentials, region and
                            endpoint from the AWS variables and ~/.aws files
  --shared-timeout SECS     time for the shared tier's first byte (default 0.3)
  --shared-uploads N        shared-tier uploads at once (default 2)
  --intercept[=HOSTS]       decrypt (and so cache) CONNECT tunnels: to every host,
                            or to HOSTS (comma-separated, *.example.com for
                            subdomains); others stay plain tunnels
  --ca-dir DIR              where hoard's CA is kept (default CACHE_DIR/ca); it is
                            created on first use
  --ca-cert FILE, --ca-key FILE
                            sign with this CA instead (PEM; key in PKCS#8)
  --config FILE             rules (JSON or JSONC): immutable artifacts, TTLs, cache
                            keys without signatures; see README
  --tenancy single|shared   who may be served what a rule stored although its
                            request carried credentials (image blobs, private
                            tarballs): single (default) every client; shared
                            only a client whose own credentials the origin
                            accepts for it, checked with a conditional request
  --allow-clients CIDRS     client networks allowed (e.g. 10.0.0.0/8,192.168.1.7);
                            others get 403
  --auth USER:PASS          require these proxy credentials (Basic); others get 407
                            (binding anything but loopback needs one of these two)
  --allow-hosts HOSTS       origins the proxy may reach (names, *.example.com)
  --deny-hosts HOSTS        origins the proxy refuses
  --deny-private            refuse origins on loopback, private, link-local addresses
  --resolve HOST=ADDR,...   connect to ADDR for HOST (a name or *.domain) instead of
                            asking DNS; TLS still checks HOST (a mirror, a registry
                            on this machine under its real name)
  --max-connections N       client connections at once; more get 503 (default 1024)
  --workers N|auto          threads serving connections, one per core with auto
                            (default 1); they share the port and the cache
  --max-request-body SIZE   largest body of a GET or HEAD (default 1M)
  --offline                 never contact an origin: serve what is stored, whatever
                            its age; 504 for the rest (listed at exit)
  --stale-if-error DURATION how long past its freshness a stored response stands in
                            for an origin that fails (default 7d)
  --summary-json FILE       write the run summary there as JSON at exit (it is also
                            logged, and appended to $GITHUB_STEP_SUMMARY when set)
  --upstream-proxy URL      reach origins through this proxy (http://[user:pass@]host:port)
  --use-env-proxy           reach origins through hoard's own HTTP_PROXY / HTTPS_PROXY
                            (minus NO_PROXY)
  --upstream-ca FILE        extra CA certificate(s), PEM, trusted for https origins
  --connect-ports LIST      ports CONNECT tunnels may reach, comma-separated
                            (default 443)
  --connect-timeout SECS    time to connect to an origin (default 10)
  --response-timeout SECS   time for an origin to start answering (default 60)
  --idle-timeout SECS       longest silence of an origin inside a body (default 60)
  --header-timeout SECS     time a client has to send a whole request head (default 30)
  --keep-alive-timeout SECS how long an idle client connection is kept (default 60)
  --shutdown-grace SECS     on SIGINT/SIGTERM, time left for requests in flight (default 10)
  --log-level LEVEL         debug | info | warn | error | silent (default info)
  --log-format FORMAT       text (one line per request for people) or json (one
                            object per request)
  -q, --quiet               log warnings and errors only (--log-level warn)
  -h, --help                show this help
  -V, --version             print the version

Point clients at it: eval "$(hoard env)", or HTTP_PROXY / HTTPS_PROXY by hand.
`;

/** A command line that cannot be run as given; exit code 2. */
export class UsageError extends Error {
  /** @param message one line naming the bad flag or value. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}
