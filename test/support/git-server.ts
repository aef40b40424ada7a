/**
 * A git server over HTTPS on loopback for the GitOps tests: `git http-backend` (smart HTTP, push
 * included) behind a small Node TLS server, with a certificate from the test cluster's CA, so the
 * Flux source-controller clones it as it would clone a forge (it does not clone file:// URLs).
 * Repositories are bare repositories under `root`; `url(name)` is what a GitRepository points at.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { $ } from 'zx';

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

const quiet = { quiet: true, verbose: false } as const;

export class GitServer implements AsyncDisposable {
  private constructor(readonly root: string, private readonly server: https.Server) {}

  static async start(root: string, tls: TlsFiles): Promise<GitServer> {
    await mkdir(root, { recursive: true });
    const server = https.createServer({ cert: tls.cert, key: tls.key }, (request, response) => serveCgi(root, request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new GitServer(root, server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(name: string): string {
    return `https://127.0.0.1:${this.port}/${name}.git`;
  }

  /** A new bare repository that accepts pushes. */
  async create(name: string): Promise<string> {
    const dir = path.join(this.root, `${name}.git`);
    await $(quiet)`git init -q --bare -b main ${dir}`;
    await $(quiet)`git -C ${dir} config http.receivepack true`;
    return dir;
  }

  async dispose(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** One request through git http-backend (CGI): headers up to the blank line, then the body. */
function serveCgi(root: string, request: IncomingMessage, response: ServerResponse): void {
  const url = new URL(request.url ?? '/', 'https://git');
  const child = spawn('git', ['http-backend'], {
    env: {
      ...process.env,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REMOTE_USER: 'test',
      REQUEST_METHOD: request.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: request.headers['content-type'] ?? '',
      ...(request.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: request.headers['content-encoding'] } : {}),
      ...(request.headers['git-protocol'] ? { GIT_PROTOCOL: String(request.headers['git-protocol']) } : {}),
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // git may exit before reading a request body it refuses: that is its answer, not our crash
  child.stdin.on('error', () => {});
  request.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      response.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else response.setHeader(name, value);
    }
    response.writeHead(status);
    response.write(head.subarray(end + 4));
  });
  child.on('close', () => {
    if (!headersDone) response.writeHead(502).end(head.toString('utf8'));
    else response.end();
  });
  child.on('error', () => {
    if (response.headersSent) response.destroy();
    else response.writeHead(500).end();
  });
}
