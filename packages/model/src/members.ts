/** One cluster member as GET /v1/members shows it (the API answers it, the SDK reads it). */
export interface MemberView {
  readonly name: string;
  readonly state: 'alive' | 'suspect' | 'dead' | 'left';
  /** Gossip address, host:port. */
  readonly address: string;
  readonly incarnation: number;
  readonly meta: Readonly<Record<string, string>>;
  /** True for the node answering. */
  readonly self: boolean;
  /** Milliseconds since the state last changed. */
  readonly sinceMs: number;
}
