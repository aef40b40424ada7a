/**
 * A TCP listener on loopback that records what a Heka publisher writes, one entry per
 * connection (Snap's publisher makes one connection per publish), and optionally forwards the
 * bytes as they come to another port (the Hindsight stage's heka_tcp), so a test knows exactly
 * what the real Snap sent while the pipeline runs as usual. A connection the target refuses is
 * closed, as the publisher would see without the recorder.
 *
 *   const recorder = await startHekaRecorder({ forwardTo: stage.hekaPort });
 *   // Snap publishes to recorder.port
 *   recorder.publishes     // the bytes of every connection that has ended
 */
import net from 'node:net';

export interface HekaRecorder {
  readonly port: number;
  /** The bytes of each connection that has ended, in the order they ended. */
  readonly publishes: Uint8Array[];
  /**
   * Stops listening, so the publisher's connections are refused as by a Hindsight that is down
   * (a recorder that accepts and then cannot forward would hide the outage); listen() again
   * takes the same port.
   */
  unlisten(): Promise<void>;
  listen(): Promise<void>;
  close(): Promise<void>;
}

export async function startHekaRecorder(options: { forwardTo?: number } = {}): Promise<HekaRecorder> {
  const publishes: Uint8Array[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    const chunks: Buffer[] = [];
    const target = options.forwardTo === undefined ? undefined : net.connect(options.forwardTo, '127.0.0.1');
    target?.on('error', () => client.destroy());
    client.on('data', (chunk) => {
      chunks.push(chunk);
      target?.write(chunk);
    });
    client.on('end', () => {
      publishes.push(Buffer.concat(chunks));
      target?.end();
    });
    client.on('error', () => target?.destroy());
    client.on('close', () => sockets.delete(client));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const unlisten = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  return {
    port,
    publishes,
    unlisten,
    listen: () => new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve())),
    close: unlisten,
  };
}
