export { createL2Announcer, type AnnounceResult, type Announcer, type L2AnnouncerInit } from './announcer.js';
export { createMemoryAnnouncer, type AnnounceCall, type MemoryAnnouncer, type MemoryAnnouncerInit } from './memory.js';
export { ANNOUNCE_DEFAULTS, announceConfig, type AnnounceConfig, type AnnounceInit } from './config.js';
export { openPacketSocket, encodeSockaddrLl, SOCKADDR_LL_BYTES, type PacketSocket, type PacketSocketInit } from './packet-socket.js';
export { createNetlinkLinkLookup, type LinkInfo, type LinkLookup, type NetlinkLinkLookup, type NetlinkLinkLookupInit } from './links.js';
export {
  ARP_FRAME_BYTES,
  ETH_P_ARP,
  ETH_P_IPV6,
  NA_FRAME_BYTES,
  gratuitousArp,
  icmpv6Checksum,
  parseArp,
  parseNeighborAdvertisement,
  unsolicitedNeighborAdvertisement,
  type ArpFrame,
  type ArpOp,
  type NeighborAdvertisementFrame,
} from './frames.js';
export { ANNOUNCE_ERROR_CODES, AnnounceError, errnoFromStrerror, type AnnounceErrorCode } from './errors.js';
