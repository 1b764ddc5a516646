import { createHmac } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  decodeStandardSecret,
  isStandardSecret,
  signFraiseql,
  signStandard,
  splitSecrets,
} from "../../src/actions/signing.ts";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const BODY = '{"id":"msg_1","total":9007199254740993,"note":"héllo ✓"}';

afterEach(() => {
  vi.restoreAllMocks();
});

describe("decodeStandardSecret", () => {
  it("decodes base64 after an optional whsec_ prefix, as standardwebhooks does", () => {
    const bytes = decodeStandardSecret(SECRET);
    expect(Buffer.from(bytes ?? []).toString("base64")).toBe(SECRET.slice(6));
    expect(decodeStandardSecret(SECRET.slice(6))).toEqual(bytes);
    expect(decodeStandardSecret("QUJD")).toEqual(new Uint8Array([65, 66, 67]));
    expect(decodeStandardSecret("QUI=")).toEqual(new Uint8Array([65, 66]));
  });

  it("refuses what is not base64 or holds no key", () => {
    for (const secret of [
      "",
      "whsec_",
      "not base64!",
      "QUJD-_",
      "QUI==",
      "Q",
      "QUJDR",
      "=",
      "QU=I",
      "QUI",
      "QQ",
    ]) {
      expect(isStandardSecret(secret), secret).toBe(false);
    }
  });
});

describe("signStandard", () => {
  it("matches the standardwebhooks library byte for byte", async () => {
    const timestamp = 1_700_000_000;
    const header = await signStandard([SECRET], "msg_1", timestamp, BODY);
    expect(header).toBe(new Webhook(SECRET).sign("msg_1", new Date(timestamp * 1000), BODY));
  });

  it("signs with every secret, space-separated, each verifying", async () => {
    const other = "whsec_QWxsIHdvcmsgYW5kIG5vIHBsYXkgbWFrZXMgSmFjaw==";
    const timestamp = Math.floor(Date.now() / 1000);
    const header = await signStandard([SECRET, other], "msg_2", timestamp, BODY);
    const headers = {
      "webhook-id": "msg_2",
      "webhook-timestamp": String(timestamp),
      "webhook-signature": header,
    };
    expect(header.split(" ")).toHaveLength(2);
    for (const secret of [SECRET, other]) {
      expect(new Webhook(secret).verify(BODY, headers)).toMatchObject({ id: "msg_1" });
    }
  });

  it("rejects a secret that is not base64", async () => {
    await expect(signStandard(["not base64!"], "m", 1, BODY)).rejects.toThrow(TypeError);
  });
});

describe("signFraiseql", () => {
  it("is a Stripe-style hex HMAC of '<ts>.<body>' over the secret's UTF-8 bytes", async () => {
    const mac = (secret: string) =>
      createHmac("sha256", secret).update(`1700000000.${BODY}`).digest("hex");
    expect(await signFraiseql(["plain ✓"], 1_700_000_000, BODY)).toBe(
      `t=1700000000,v1=${mac("plain ✓")}`,
    );
    expect(await signFraiseql(["a", "b"], 1_700_000_000, BODY)).toBe(
      `t=1700000000,v1=${mac("a")},v1=${mac("b")}`,
    );
  });
});

describe("key cache", () => {
  it("imports each secret's key once", async () => {
    const importKey = vi.spyOn(crypto.subtle, "importKey");
    const secret = "whsec_Y2FjaGUgbWUgb25jZSBwbGVhc2U=";
    for (let i = 0; i < 5; i++) await signStandard([secret], `m${i}`, i, BODY);
    await Promise.all([signFraiseql(["cached"], 1, BODY), signFraiseql(["cached"], 2, BODY)]);
    expect(importKey).toHaveBeenCalledTimes(2);
  });
});

describe("splitSecrets", () => {
  it("splits on any whitespace and drops empties", () => {
    expect(splitSecrets(" a  b\tc\n")).toEqual(["a", "b", "c"]);
    expect(splitSecrets("   ")).toEqual([]);
  });
});
