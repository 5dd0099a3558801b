/** BGP as GET /v1/status shows it under `bgp` (shoald answers it, the SDK and shoalctl read it). */

export interface BgpPeerFamilyView {
  readonly family: 'ipv4-unicast' | 'ipv6-unicast';
  /** Both sides agreed on it in the current (or last) session. */
  readonly negotiated: boolean;
  /** Prefixes announced to this peer in this family. */
  readonly advertised: number;
  readonly endOfRibSent: boolean;
  /** Why the family is not announced (no usable next hop, ...). */
  readonly problem?: string;
}

export interface BgpPeerView {
  readonly address: string;
  readonly port: number;
  readonly asn: number;
  readonly type: 'ebgp' | 'ibgp';
  /** RFC 4271 FSM state: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  readonly state: string;
  readonly description?: string;
  readonly localAddress?: string;
  /** Seconds in Established; 0 otherwise. */
  readonly uptimeS: number;
  /** Times the session left Established. */
  readonly flaps: number;
  /** Negotiated hold time of the current session. */
  readonly holdTimeS?: number;
  readonly routesAdvertised: number;
  readonly families: readonly BgpPeerFamilyView[];
  readonly messagesIn: number;
  readonly messagesOut: number;
  readonly lastError?: string;
  /** "Cease/Administrative Shutdown", ... */
  readonly lastNotificationSent?: string;
  readonly lastNotificationReceived?: string;
}

export interface BgpRouteView {
  /** "10.96.0.10/32" */
  readonly prefix: string;
  readonly instances: readonly string[];
  readonly communities: number;
  readonly largeCommunities: number;
}

export interface BgpStatusView {
  readonly enabled: true;
  readonly asn: number;
  readonly routerId: string;
  readonly mode: 'ecmp' | 'owner';
  /** This run started as a graceful restart (R bit set, End-of-RIB after the first routes). */
  readonly restarting: boolean;
  readonly routes: readonly BgpRouteView[];
  readonly peers: readonly BgpPeerView[];
  readonly lastError: string | null;
}
