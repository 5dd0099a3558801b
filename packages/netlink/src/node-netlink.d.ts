// node-netlink@0.0.4 ships no types: the part of its surface the socket layer uses (read from
// its lib/index.js). Header values are BigInt both ways.
declare module 'node-netlink' {
  interface NodeNetlinkHeader {
    nlmsg_type: bigint;
    nlmsg_flags: bigint;
    nlmsg_seq?: bigint;
    nlmsg_pid?: bigint;
  }
  interface NodeNetlinkPacket {
    header: { nlmsg_type: bigint; nlmsg_flags: bigint; nlmsg_seq: bigint; nlmsg_pid: bigint };
    payload: Buffer;
  }
  interface NodeNetlinkSocket {
    nl_pid: bigint;
    tryTalk(message: { header: NodeNetlinkHeader; payload: Buffer }, options?: { timeout?: number }): Promise<{ errorCode: number; packets: NodeNetlinkPacket[] }>;
    close(): Promise<void>;
  }
  const netlink: {
    open(options: { family: number | bigint; pid?: number; groups?: number }): Promise<NodeNetlinkSocket>;
  };
  export default netlink;
}

// po6-socket@0.0.3 (node-netlink's own socket layer) ships no types either: what events.ts uses.
declare module 'po6-socket' {
  interface Po6Socket {
    bind(options: { sockaddr: Buffer }): Promise<void>;
    on(event: 'message', listener: (message: { data: Buffer }) => void): void;
    close(): Promise<void>;
  }
  const po6socket: {
    create(options: { domain: bigint; type: bigint; protocol: bigint }): Promise<Po6Socket>;
  };
  export default po6socket;
}
