/**
 * An https.Agent that pins the server certificate, for the backends whose `tls.thumbprint` the operator
 * set (vSphere, i-doit): the pin replaces chain and host-name checks (the operator vouched for exactly
 * this certificate), and the socket is handed to HTTP only after the peer's fingerprint matched, so no
 * byte of a request (a password, an API key) is ever written to an unverified peer. A 64-digit pin is
 * compared with the certificate's SHA-256, a 40-digit one with its SHA-1 (as the vSphere UI shows it).
 */
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';

export class PinnedAgent extends https.Agent {
  /**
   * `pin`: upper-case hex without separators. `refuse(seen)`: the error for a peer that presented another
   * certificate (`seen`: its fingerprint in the pin's kind, or undefined for none), naming the setting.
   */
  constructor(
    private readonly pin: string,
    opts: https.AgentOptions,
    private readonly refuse: (seen: string | undefined) => Error,
  ) {
    super(opts);
  }

  override createConnection(
    options: tls.ConnectionOptions,
    cb: (err: Error | null, s?: Duplex) => void,
  ): Duplex | undefined {
    const socket = tls.connect({ ...options, rejectUnauthorized: false });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const seen = (this.pin.length === 64 ? cert?.fingerprint256 : cert?.fingerprint)?.replace(/:/g, '').toUpperCase();
      if (seen === this.pin) return cb(null, socket);
      socket.destroy();
      cb(this.refuse(seen));
    });
    socket.once('error', (e) => cb(e));
    return undefined;
  }
}
