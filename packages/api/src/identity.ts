/**
 * Who is calling, from the verified client certificate: subject CN is the name, OU the role.
 * The TLS layer has already refused a missing, foreign or expired certificate before any of
 * this runs; here we only read what the handshake proved.
 */
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { isRole, type ClientIdentity } from '@shoal/model';

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function allValues(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/**
 * The identity in a peer certificate, or an explanation of why there is none. A certificate
 * may carry several OUs; the first that names a Shoal role wins.
 */
export function identityFromCertificate(cert: PeerCertificate | null | undefined): ClientIdentity | { error: string } {
  // Node hands back {} when the peer sent no certificate.
  const subject = (cert as Partial<PeerCertificate> | null | undefined)?.subject;
  if (!cert || subject === undefined) return { error: 'no client certificate' };
  const name = firstValue(subject.CN) ?? '(no CN)';
  const ous = allValues(subject.OU);
  const role = ous.find(isRole);
  if (role === undefined) return { error: `certificate OU ${ous.length === 0 ? '(none)' : ous.join(',')} names no Shoal role (admin, operator, viewer, node)` };
  return { name, role, serial: cert.serialNumber };
}

/**
 * getPeerCertificate() builds a fresh object graph on every call (about 40 us, a third of a
 * keep-alive GET in the bench), and a connection's certificate cannot change: TLS 1.3 has no
 * renegotiation and the listener disables it for 1.2. So the identity is read once per socket.
 */
const identityBySocket = new WeakMap<object, ClientIdentity | { error: string }>();

export function identityFromTlsSocket(socket: unknown): ClientIdentity | { error: string } {
  const tls = socket as Partial<TLSSocket> | undefined;
  if (!tls || typeof tls.getPeerCertificate !== 'function' || tls.authorized !== true) return { error: 'no verified client certificate' };
  let identity = identityBySocket.get(tls);
  if (identity === undefined) {
    identity = identityFromCertificate(tls.getPeerCertificate());
    identityBySocket.set(tls, identity);
  }
  return identity;
}
