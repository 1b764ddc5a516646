/**
 * Chaos receiver (bench/chaos): an HTTP server that records every request as one JSON line
 * (`{t, port, path, id, status, verified, mode, body}`) in `$OUT` and misbehaves on a 40 s cycle,
 * offset by `$PHASE` seconds: normal, 503 bursts, 429 with Retry-After, slow answers, hangs past
 * the action timeout (then 503), and connection refused (the listener is closed, then opened
 * again). Once `$CALM_FILE` exists it behaves for good. Path `/d` refuses entity ids divisible by
 * 7 with a permanent 400 (dead letters). Signatures are checked with the `standardwebhooks`
 * package. Usage: `PORT=19001 OUT=/tmp/r.jsonl SECRET=whsec_... bun bench/chaos/receiver.ts`.
 */
import { appendFileSync, existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Webhook } from "standardwebhooks";

const port = Number(process.env.PORT);
const out = String(process.env.OUT);
const phase = Number(process.env.PHASE ?? 0);
const calmFile = String(process.env.CALM_FILE ?? "/tmp/chaos/calm");
const webhook = new Webhook(String(process.env.SECRET));
const start = Date.now();

type Mode = "normal" | "503" | "429" | "slow" | "hang" | "down";
function mode(): Mode {
  if (existsSync(calmFile)) return "normal";
  const s = ((Date.now() - start) / 1000 + phase) % 40;
  if (s < 10) return "normal";
  if (s < 14) return "503";
  if (s < 18) return "429";
  if (s < 22) return "slow";
  if (s < 25) return "hang";
  if (s < 30) return "down";
  return "normal";
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = await readBody(request);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (typeof value === "string") headers[name] = value;
  }
  let verified = false;
  try {
    webhook.verify(body, headers);
    verified = true;
  } catch {}
  const path = new URL(request.url ?? "/", "http://receiver").pathname;
  let parsed: { entity_id?: string } | null = null;
  try {
    parsed = JSON.parse(body);
  } catch {}
  const m = mode();
  let status = 204;
  const extra: Record<string, string> = {};
  if (m === "503" && Math.random() < 0.7) status = 503;
  else if (m === "429" && Math.random() < 0.7) {
    status = 429;
    extra["retry-after"] = "1";
  } else if (m === "slow") await sleep(300);
  else if (m === "hang") {
    await sleep(3000);
    status = 503;
  }
  if (status === 204 && path === "/d" && Number(parsed?.entity_id) % 7 === 0) status = 400;
  const record = {
    t: Date.now(),
    port,
    path,
    id: headers["webhook-id"],
    status,
    verified,
    mode: m,
  };
  appendFileSync(out, `${JSON.stringify({ ...record, body: parsed })}\n`);
  response.writeHead(status, extra).end(status === 204 ? undefined : "no");
}

let server: Server | null = null;
function listen(): void {
  server = createServer((request, response) => {
    handle(request, response).catch(() => response.writeHead(500).end());
  });
  server.listen(port, "127.0.0.1");
}
listen();
// Down: nothing listens (connection refused) until the mode changes.
setInterval(() => {
  const down = mode() === "down";
  if (down && server) {
    server.close();
    server.closeAllConnections();
    server = null;
  } else if (!down && !server) listen();
}, 100);
