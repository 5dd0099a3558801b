// syscall-napi@0.0.6 ships no types: the part of its surface tcp-transport.ts uses (read from its
// lib/index.js and native/syscall.c, the same declaration as @shoal/announce's). Arguments are
// BigInts or Buffers (passed as pointers); results are BigInts. Failures throw
// `new Error(strerror(errno))` with an empty `code`.
declare module 'syscall-napi' {
  type SyscallArg = bigint | Buffer;
  interface Syscall {
    /** Runs on the libuv thread pool. */
    (number: bigint, ...args: SyscallArg[]): Promise<bigint>;
    /** Runs on the calling thread. */
    sync(number: bigint, ...args: SyscallArg[]): bigint;
  }
  const sys: {
    readonly syscall: Syscall;
    /** Syscall numbers of this architecture (x64, arm64, arm); absent elsewhere. */
    readonly [name: `__NR_${string}`]: bigint | undefined;
  };
  export default sys;
}
