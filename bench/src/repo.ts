/** Paths in the repository, from this file's place in bench/dist, so the bench runs from any cwd. */
import { fileURLToPath } from 'node:url';

export const REPO_ROOT: string = fileURLToPath(new URL('../../', import.meta.url));
export const SHOALD_BIN: string = fileURLToPath(new URL('../../packages/shoald/bin/shoald.js', import.meta.url));
export const CERTS_SCRIPT: string = fileURLToPath(new URL('../../certs/shoal-certs.sh', import.meta.url));
export const RESULTS_FILE: string = fileURLToPath(new URL('../results/latest.json', import.meta.url));
/** The compiled store loader that store-bench runs in a fresh process. */
export const STORE_LOAD_CHILD: string = fileURLToPath(new URL('./store-load-child.js', import.meta.url));
/** The compiled SWIM member that swim-bench runs, one per process. */
export const SWIM_NODE: string = fileURLToPath(new URL('./swim-node.js', import.meta.url));
/** The compiled client loop that failover-bench runs in the client namespace. */
export const VIP_CLIENT: string = fileURLToPath(new URL('./vip-client.js', import.meta.url));
/** shoald and keepalived logs of the last failover run, kept for reading after the work dir is gone. */
export const FAILOVER_LOG_DIR: string = fileURLToPath(new URL('../results/failover-logs/', import.meta.url));
/** shoald, BIRD and `ip monitor route` logs of the last bgp run. */
export const BGP_LOG_DIR: string = fileURLToPath(new URL('../results/bgp-logs/', import.meta.url));
