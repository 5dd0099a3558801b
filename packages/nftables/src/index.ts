/**
 * @shoal/nftables: the nftables fallback data plane (DNAT through slot maps in one
 * `table inet` Shoal owns). See README.md for what it maps from IPVS and what it cannot.
 */
export { createNftablesDataplane, type NftablesDataplane, type NftablesDataplaneInit, type NftablesApplyReport } from './driver.js';
export { renderRuleset, renderIncremental, renderFlush, serviceElements, approximations, type RenderOptions, type IncrementalInput, type ServiceElements } from './render.js';
export { parseTableSets, parseTableNames, type ParsedTable } from './parse.js';
export { planSlots, slotAlgorithm, chooseTier, apportionSlots, interleave, activeServers, type SlotPlan, type SlotAlgorithm } from './slots.js';
export { NFTABLES_DEFAULTS, SLOT_TIERS, JHASH_SEED, FORMAT_MARKER_SET, type SlotTier } from './constants.js';
