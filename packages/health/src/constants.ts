/** Defaults for HealthCheckerInit, each with the reason it is what it is. */
export const HEALTH_CHECKER_DEFAULTS = {
  /**
   * Probes in flight at once, across every target. Each holds a socket and a file descriptor;
   * 256 keeps 10,000 backends at a 2 s interval well within reach (each probe lasts a LAN
   * round trip, so ~5,000 probes/s fit) while a mass outage, where every probe waits its full
   * timeout, cannot exhaust descriptors or starve the event loop that also answers the API.
   */
  maxConcurrentProbes: 256,
  /**
   * Each interval is stretched or shrunk by up to this fraction, at random. Targets created
   * together (a restart, a big PUT) would otherwise probe in lockstep forever: bursts of
   * connections on the backends and on our event loop, instead of an even trickle.
   */
  jitterFraction: 0.1,
  /**
   * A backend not yet probed is `unknown` and gets no traffic (`down`): sending connections to
   * a backend nobody has seen answer is how a fresh instance black-holes clients. The first
   * probe runs right away (within the jitter spread), so the wait is one round trip, not
   * `rise` intervals. `up` is keepalived's default (real servers start up unless `alpha`).
   */
  initialState: 'down',
} as const;
