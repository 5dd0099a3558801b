export { electOwners, hasQuorum, quorumSize, rankCandidates, rendezvousScore, vipsToHold, type Candidate, type ElectionInput, type LocalClaimInput, type QuorumInput } from './election.js';
export {
  OWNERSHIP_DEFAULTS,
  createOwnershipController,
  type HeldVip,
  type OwnershipController,
  type OwnershipControllerInit,
  type OwnershipInputs,
  type OwnershipStatus,
  type VipAddresses,
  type VipAnnouncer,
} from './controller.js';
export { createMemoryAnnouncer, createMemoryVipAddresses, type MemoryAnnouncer, type MemoryVipAddresses } from './memory.js';
export { createNetlinkVipAddresses, type NetlinkVipAddresses, type NetlinkVipAddressesInit } from './netlink-addresses.js';
