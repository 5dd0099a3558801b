/**
 * Every default of the nftables driver in one place, each with the reason for its value.
 */

export const NFTABLES_DEFAULTS = {
  /** One table Shoal owns; `table inet` holds the IPv4 and IPv6 maps side by side. */
  tableName: 'shoal',
  /** Resolved through PATH, as an operator would type it. */
  nftPath: 'nft',
  /** `ip netns exec` needs iproute2's `ip`. */
  ipPath: 'ip',
} as const;

/**
 * The slot counts a service can use. Every map (and so every rule) has one fixed `mod N`, so a
 * service picks one of these tiers: 12 divides evenly for 1, 2, 3, 4, 6 and 12 backends and
 * gives 1/12 weight resolution for the common small service (10,000 services x 12 slots load
 * in about a second); the larger tiers exist for services with many backends or extreme weight
 * ratios, and 12,000 is above the model's 10,000-backend limit, so every active backend always
 * gets at least one slot.
 */
export const SLOT_TIERS = [12, 120, 1200, 12000] as const;
export type SlotTier = (typeof SLOT_TIERS)[number];

/**
 * jhash seed for the source-hash maps. Without a seed nft picks a random one on every load,
 * so each reload would move clients to other backends (recipe pitfall); a fixed seed keeps
 * the mapping identical across reloads and across nodes.
 */
export const JHASH_SEED = 0x5eed;

/**
 * The name of an empty set whose presence says "this table was written by this driver, layout
 * version 1". `nft -j` does not show table comments in 1.0.6, so the marker is a set; a table
 * of our name without it is foreign (or an older layout) and is rebuilt on the next apply.
 */
export const FORMAT_MARKER_SET = 'shoal_format_1';

/** nft's `output` nat hook rejects `priority dstnat` (1.0.6); -100 is dstnat's value. */
export const OUTPUT_NAT_PRIORITY = -100;
