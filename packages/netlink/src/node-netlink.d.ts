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
