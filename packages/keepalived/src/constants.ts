/** Every default of the keepalived package in one place, each with the reason for its value. */

export const KEEPALIVED_DEFAULTS = {
  /** Resolved through PATH, as an operator would type it (Debian installs /usr/sbin/keepalived). */
  keepalivedBin: 'keepalived',
  /** keepalived's own default for the parent's pid file (`-p`); the reload signal goes there. */
  pidFile: '/run/keepalived.pid',
  /** keepalived's default for the VRRP child's pid file (`-r`). */
  vrrpPidFile: '/run/keepalived_vrrp.pid',
  /** iproute2's `ip`, used only to enter a named network namespace (labs, tests). */
  ipBin: 'ip',
  /**
   * How long `keepalived -t` may take. It parses the file and looks up interfaces, well under a
   * second; anything slower is a hang, and a reconcile must not wait on it forever.
   */
  validateTimeoutMs: 10_000,
  /** SIGTERM to SIGKILL in spawnKeepalived's stop(): a clean stop sends priority 0 within ms. */
  stopGraceMs: 3_000,
} as const;

/**
 * Gratuitous ARP / unsolicited NA after a node becomes master (measured in the l2 recipe).
 * keepalived's own defaults are 5 GARPs at the transition, 5 more 5 s later, no refresh.
 */
export const GARP_DEFAULTS = {
  /**
   * Second burst 1 s after the transition (keepalived: 5 s): a switch port or a peer that missed
   * the first burst while links were flapping learns the new MAC 4 s sooner.
   */
  masterDelayS: 1,
  /** 3 per burst: one lost frame does not leave a client on the old MAC; 5 is noise on big L2s. */
  masterRepeat: 3,
  /**
   * One GARP (and NA for IPv6 VIPs) per minute while master: repairs caches that a missed
   * burst or a restarted switch left stale, at a negligible cost. 0 turns the refresh off.
   */
  masterRefreshS: 60,
} as const;

/**
 * The VRRP instance priority range keepalived accepts for a non-owner: 255 is reserved for the
 * router that owns the addresses (RFC 5798 5.2.4) and 0 means "master is leaving".
 */
export const PRIORITY_LIMITS = { min: 1, max: 254 } as const;

/**
 * advert_int bounds. VRRPv3 carries centiseconds in 12 bits (RFC 5798 5.2.7): 0.01..40.95 s.
 * VRRPv2 carries whole seconds in 8 bits (RFC 3768 5.3.7): 1..255 s.
 */
export const ADVERT_LIMITS = { v3: { minS: 0.01, maxS: 40.95 }, v2: { minS: 1, maxS: 255 } } as const;

/** keepalived's PASS authentication copies at most 8 bytes (RFC 3768 5.3.10's 8-octet field). */
export const AUTH_PASS_MAX_LENGTH = 8;
