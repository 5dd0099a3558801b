/**
 * The BGP-4 message model: what the codec decodes to and encodes from. Plain values only, so
 * the FSM, the speaker and the tests share one vocabulary and never touch bytes.
 *
 * Addresses are canonical text (IPv4 dotted quad, IPv6 RFC 5952). AS numbers are always the
 * full 32-bit value (RFC 6793); the codec alone deals with AS_TRANS and 2-octet encodings.
 */

/** RFC 4271 4.1 message types, plus ROUTE-REFRESH (RFC 2918). */
export const MESSAGE_TYPE = {
  open: 1,
  update: 2,
  notification: 3,
  keepalive: 4,
  routeRefresh: 5,
} as const;

/** Address Family Identifiers (IANA) and the one SAFI we speak. */
export const AFI_IPV4 = 1;
export const AFI_IPV6 = 2;
export const SAFI_UNICAST = 1;

/** The two address families this speaker announces. */
export type AddressFamily = 'ipv4-unicast' | 'ipv6-unicast';

/** An IP prefix: canonical network address text plus length (host bits are zero). */
export interface Prefix {
  readonly family: 'ipv4' | 'ipv6';
  readonly address: string;
  readonly length: number;
}

/** RFC 5492 capabilities we understand; anything else is kept as `unknown`. */
export type Capability =
  | { readonly kind: 'multiprotocol'; readonly afi: number; readonly safi: number } // RFC 4760 (code 1)
  | { readonly kind: 'route-refresh' } // RFC 2918 (code 2)
  | { readonly kind: 'four-octet-as'; readonly asn: number } // RFC 6793 (code 65)
  | {
      // RFC 4724 (code 64)
      readonly kind: 'graceful-restart';
      /** R bit: the sender has restarted. */
      readonly restarting: boolean;
      /** N bit (RFC 8538): the sender supports GR for NOTIFICATION; decoded, never set by us. */
      readonly notification: boolean;
      /** Restart Time, 12 bits, seconds. */
      readonly restartTimeS: number;
      readonly families: readonly { readonly afi: number; readonly safi: number; readonly forwardingPreserved: boolean }[];
    }
  | { readonly kind: 'unknown'; readonly code: number; readonly value: Uint8Array };

export interface OpenMessage {
  readonly type: 'open';
  /** Always 4; a decoder given another version throws OPEN/Unsupported Version Number. */
  readonly version: number;
  /**
   * The speaker's AS: the 4-octet capability's value when present, else the 2-octet My AS
   * field. Encoding writes AS_TRANS (23456) into My AS when this does not fit 16 bits.
   */
  readonly asn: number;
  readonly holdTimeS: number;
  /** BGP Identifier as dotted quad. */
  readonly bgpId: string;
  readonly capabilities: readonly Capability[];
}

export type Origin = 'igp' | 'egp' | 'incomplete';

export interface AsPathSegment {
  readonly type: 'sequence' | 'set' | 'confed-sequence' | 'confed-set';
  readonly asns: readonly number[];
}

/** RFC 8092 large community: three 32-bit numbers. */
export interface LargeCommunity {
  readonly globalAdmin: number;
  readonly localData1: number;
  readonly localData2: number;
}

/** MP_REACH_NLRI (RFC 4760 3): next hops are a global address and, for IPv6, an optional link-local. */
export interface MpReach {
  readonly afi: number;
  readonly safi: number;
  readonly nextHops: readonly string[];
  readonly nlri: readonly Prefix[];
}

export interface MpUnreach {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: readonly Prefix[];
}

/** An attribute we do not interpret, kept with its flags so it could be passed on. */
export interface UnknownAttribute {
  readonly flags: number;
  readonly typeCode: number;
  readonly value: Uint8Array;
}

export interface PathAttributes {
  readonly origin?: Origin;
  readonly asPath?: readonly AsPathSegment[];
  readonly nextHop?: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: boolean;
  /** RFC 1997 communities as 32-bit values (high 16 bits AS, low 16 bits value). */
  readonly communities?: readonly number[];
  readonly largeCommunities?: readonly LargeCommunity[];
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  readonly unknown?: readonly UnknownAttribute[];
}

/**
 * RFC 7606 outcome of an attribute error the session survives. `treat-as-withdraw` means every
 * NLRI in the message is to be taken as withdrawn; `attribute-discard` means the attribute was
 * dropped. An announce-only speaker ignores what it learns, but it still reports these.
 */
export interface UpdateAttributeError {
  readonly action: 'treat-as-withdraw' | 'attribute-discard';
  readonly typeCode: number;
  readonly reason: string;
}

export interface UpdateMessage {
  readonly type: 'update';
  /** IPv4 prefixes in the Withdrawn Routes field. */
  readonly withdrawn: readonly Prefix[];
  readonly attributes: PathAttributes;
  /** IPv4 prefixes in the NLRI field. */
  readonly nlri: readonly Prefix[];
  /** Attribute errors handled per RFC 7606 (decode only; empty when the message was clean). */
  readonly attributeErrors?: readonly UpdateAttributeError[];
}

export interface NotificationMessage {
  readonly type: 'notification';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

export interface KeepaliveMessage {
  readonly type: 'keepalive';
}

/** RFC 2918 ROUTE-REFRESH (subtype 0 is the plain request; RFC 7313 adds 1 and 2). */
export interface RouteRefreshMessage {
  readonly type: 'route-refresh';
  readonly afi: number;
  readonly safi: number;
  readonly subtype: number;
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/** What the codec needs to know about the session to read and write AS numbers. */
export interface CodecContext {
  /** Both sides sent the 4-octet AS capability: AS_PATH carries 4-byte ASNs (RFC 6793 4.1). */
  readonly fourOctetAs: boolean;
}

/** Message header length and the RFC 4271 maximum message size (no RFC 8654 extended messages). */
export const HEADER_BYTES = 19;
export const MAX_MESSAGE_BYTES = 4096;
/** RFC 6793: the 2-octet placeholder for an AS number that does not fit. */
export const AS_TRANS = 23456;

/** NOTIFICATION error codes (RFC 4271 4.5) and the subcodes we send. */
export const ERROR_CODE = {
  messageHeader: 1,
  openMessage: 2,
  updateMessage: 3,
  holdTimerExpired: 4,
  fsm: 5,
  cease: 6,
  routeRefresh: 7,
} as const;

export const HEADER_SUBCODE = { connectionNotSynchronized: 1, badMessageLength: 2, badMessageType: 3 } as const;
export const OPEN_SUBCODE = {
  unsupportedVersion: 1,
  badPeerAs: 2,
  badBgpIdentifier: 3,
  unsupportedOptionalParameter: 4,
  unacceptableHoldTime: 6,
  unsupportedCapability: 7,
} as const;
export const UPDATE_SUBCODE = {
  malformedAttributeList: 1,
  unrecognizedWellKnownAttribute: 2,
  missingWellKnownAttribute: 3,
  attributeFlagsError: 4,
  attributeLengthError: 5,
  invalidOrigin: 6,
  invalidNextHop: 8,
  optionalAttributeError: 9,
  invalidNetworkField: 10,
  malformedAsPath: 11,
} as const;
/** RFC 4486 Cease subcodes. */
export const CEASE_SUBCODE = {
  maxPrefixes: 1,
  administrativeShutdown: 2,
  peerDeconfigured: 3,
  administrativeReset: 4,
  connectionRejected: 5,
  otherConfigurationChange: 6,
  connectionCollisionResolution: 7,
  outOfResources: 8,
} as const;
/** RFC 6608 FSM error subcodes. */
export const FSM_SUBCODE = {
  unspecified: 0,
  unexpectedInOpenSent: 1,
  unexpectedInOpenConfirm: 2,
  unexpectedInEstablished: 3,
} as const;
