/**
 * The failover bench's client, run inside the client namespace: one HTTP GET to the VIP every
 * `intervalMs` on a fresh connection, each given `timeoutMs` in all, on a fixed schedule
 * whatever the earlier requests are doing. A closed loop (next request after the previous
 * answered) would sample an outage once per timeout; this one samples it every interval.
 *
 * argv: URL INTERVAL_MS TIMEOUT_MS. stdout: one line per request as it completes,
 *   SENT_MS RECV_MS OK WHO
 * times in ms since the epoch with sub-ms digits (performance.timeOrigin + now(), the same
 * clock the bench uses), OK 1 or 0, WHO the body of the answer (the backend's name) or why it
 * failed (timeout, ECONNREFUSED, HTTP status ...).
 */
import { get } from 'node:http';

const [url, intervalArg, timeoutArg] = process.argv.slice(2);
if (url === undefined) throw new Error('usage: vip-client URL [INTERVAL_MS] [TIMEOUT_MS]');
const intervalMs = Number(intervalArg ?? '10');
const timeoutMs = Number(timeoutArg ?? '200');

const now = (): number => performance.timeOrigin + performance.now();

function request(): void {
  const sent = now();
  let done = false;
  const finish = (ok: boolean, who: string): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    process.stdout.write(`${sent.toFixed(2)} ${now().toFixed(2)} ${ok ? 1 : 0} ${who.replace(/\s+/g, '_') || '-'}\n`);
  };
  // agent: false: a new connection per request, so every request needs the VIP's current owner.
  const req = get(url as string, { agent: false }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => finish(res.statusCode === 200, res.statusCode === 200 ? body.trim() : `HTTP_${res.statusCode ?? 0}`));
    res.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? 'error'));
  });
  const timer = setTimeout(() => {
    finish(false, 'timeout');
    req.destroy();
  }, timeoutMs);
  req.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? 'error'));
}

// A fixed schedule from the start: a late tick (GC, a busy core) is not carried into the next.
const start = now();
let n = 0;
const tick = (): void => {
  request();
  n++;
  setTimeout(tick, Math.max(0, start + n * intervalMs - now()));
};
tick();
process.on('SIGTERM', () => process.exit(0));
