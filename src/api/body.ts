import { HttpProblem } from "./problem.ts";

/** Largest request body the API reads. */
export const MAX_BODY_BYTES = 1024 * 1024;

function tooLarge(): HttpProblem {
  return new HttpProblem(
    413,
    "PAYLOAD_TOO_LARGE",
    `request bodies are limited to ${MAX_BODY_BYTES} bytes`,
  );
}

/** Refuses, before reading anything, a body that announces itself as too large. */
export function checkDeclaredLength(request: Request): void {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
}

/**
 * The request's JSON body. Counts bytes as they arrive, so a body without (or lying in) its
 * Content-Length still stops at the limit.
 */
export async function readJsonBody(request: Request): Promise<unknown> {
  checkDeclaredLength(request);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const text = new TextDecoder().decode(bytes);
  if (text.trim() === "")
    throw new HttpProblem(400, "MALFORMED_JSON", "the request needs a JSON body");
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HttpProblem(400, "MALFORMED_JSON", `the body is not valid JSON: ${reason}`);
  }
}
