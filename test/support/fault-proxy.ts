/**
 * An HTTP proxy on loopback between the output plugin and InfluxDB, for outages a stopped
 * influxd cannot play: while `failWith` is set, every request is answered with that status (a
 * load balancer's 503, say) and never reaches InfluxDB; otherwise requests pass through
 * unchanged. Counts what it answered.
 *
 *   const proxy = await startFaultProxy();
 *   proxy.target = influx.url;                 // settable later: the pipeline starts InfluxDB
 *   proxy.failWith = 503; ... proxy.failWith = undefined;
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultProxy {
  readonly url: string;
  target: string;
  failWith: number | undefined;
  /** Requests answered, by status (0: InfluxDB did not answer, the connection was dropped). */
  readonly answered: Map<number, number>;
  close(): Promise<void>;
}

export async function startFaultProxy(target = ''): Promise<FaultProxy> {
  const answered = new Map<number, number>();
  const count = (status: number) => answered.set(status, (answered.get(status) ?? 0) + 1);
  const state = { target, failWith: undefined as number | undefined };
  const server = http.createServer((request, response) => {
    if (state.failWith !== undefined) {
      request.resume();
      count(state.failWith);
      response.writeHead(state.failWith, { 'content-type': 'text/plain' }).end('injected by the test proxy\n');
      return;
    }
    if (!state.target) {
      // no InfluxDB behind it yet: as if it were away
      count(0);
      request.socket.destroy();
      return;
    }
    const upstream = http.request(new URL(request.url ?? '/', state.target), { method: request.method, headers: request.headers }, (answer) => {
      count(answer.statusCode ?? 0);
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    // InfluxDB away: the connection dies as it would without a proxy, with no HTTP answer
    upstream.on('error', () => {
      count(0);
      request.socket.destroy();
    });
    request.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get target() {
      return state.target;
    },
    set target(value: string) {
      state.target = value;
    },
    get failWith() {
      return state.failWith;
    },
    set failWith(value: number | undefined) {
      state.failWith = value;
    },
    answered,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
