import * as v from "valibot";

/** One mailbox: an address and, optionally, the display name shown with it. */
export interface Mailbox {
  address: string;
  name: string | null;
}

/** RFC 5321 caps a forward path at 254 octets and a local part at 64. */
const MAX_ADDRESS_LENGTH = 254;
const MAX_LOCAL_LENGTH = 64;
/**
 * A practical address check, not RFC 5322 in full: a dot-atom local part (no quoted strings or
 * comments, which real recipients do not use) and a dotted domain of letters, digits and hyphens,
 * IDN letters included. It exists to catch typos and data that is not an address at all.
 */
const LOCAL = /^[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+(?:\.[\p{L}\p{N}!#$%&'*+/=?^_`{|}~-]+)*$/u;
const DOMAIN = /^(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+[\p{L}\p{N}-]{2,63}$/u;
/** `Name <address>`, the form every provider and SMTP accept. */
const NAME_ADDR = /^(.*?)\s*<([^<>]*)>$/s;
/** Characters that make a display name need quotes in a header. */
const NAME_SPECIALS = /[()<>[\]:;@\\,."]/;
/** Header injection: a name or address must never carry a line break. */
const CONTROL = /\p{Cc}/u;

/** Whether `text` is a plain address (`local@domain`) this system will send to. */
export function isEmailAddress(text: string): boolean {
  if (text.length > MAX_ADDRESS_LENGTH) return false;
  const at = text.lastIndexOf("@");
  if (at <= 0 || at > MAX_LOCAL_LENGTH) return false;
  return LOCAL.test(text.slice(0, at)) && DOMAIN.test(text.slice(at + 1));
}

/** Reads `a@b.c` or `Name <a@b.c>` (name optionally quoted); null when it is not one mailbox. */
export function parseMailbox(text: string): Mailbox | null {
  const trimmed = text.trim();
  if (CONTROL.test(trimmed)) return null;
  const match = NAME_ADDR.exec(trimmed);
  const address = (match ? (match[2] ?? "") : trimmed).trim();
  if (!isEmailAddress(address)) return null;
  let name = match ? (match[1] ?? "").trim() : "";
  if (name.length >= 2 && name.startsWith('"') && name.endsWith('"')) {
    name = name.slice(1, -1).replace(/\\(.)/g, "$1");
  }
  if (/[<>]/.test(name)) return null;
  return { address, name: name === "" ? null : name };
}

/** The mailbox as a header value: `a@b.c`, `Name <a@b.c>` or `"Doe, Jane" <a@b.c>`. */
export function formatMailbox(mailbox: Mailbox): string {
  if (mailbox.name === null) return mailbox.address;
  const name = NAME_SPECIALS.test(mailbox.name)
    ? `"${mailbox.name.replace(/(["\\])/g, "\\$1")}"`
    : mailbox.name;
  return `${name} <${mailbox.address}>`;
}

/** One entry of an address list: its text (trimmed) and where it lies in the list. */
export interface AddressListEntry {
  text: string;
  /** Offsets into the scanned text: `text === list.slice(start, end)`. */
  start: number;
  end: number;
}

/**
 * Reads the structure of a recipient list: entries separated by commas (or semicolons, as mail
 * clients write them) outside quoted strings and angle brackets. Empty entries are dropped. The
 * structure must be sound: no unclosed quote or bracket, no nested or stray bracket, nothing but
 * spaces after an entry's `<address>`, and no group syntax (`team: a@x, b@y;`, which would hide
 * a list inside one entry). Whether each entry is a mailbox is `parseMailbox`'s business.
 */
export function scanAddressList(list: string): { entries: AddressListEntry[] } | { error: string } {
  const entries: AddressListEntry[] = [];
  let start = 0;
  let quoted = false;
  let escaped = false;
  let angle = false;
  let closed = false;
  const push = (end: number) => {
    const raw = list.slice(start, end);
    const text = raw.trim();
    if (text !== "") {
      const from = start + (raw.length - raw.trimStart().length);
      entries.push({ text, start: from, end: from + text.length });
    }
  };
  for (let i = 0; i < list.length; i++) {
    const char = list[i] as string;
    if (quoted) {
      if (escaped) escaped = false;
      else if (char === "\\") escaped = true;
      else if (char === '"') quoted = false;
      continue;
    }
    if (angle) {
      if (char === ">") {
        angle = false;
        closed = true;
      } else if (char === "<" || char === '"') {
        return { error: `unexpected ${char} inside <...> at position ${i}` };
      }
      continue;
    }
    if (char === "," || char === ";") {
      push(i);
      start = i + 1;
      closed = false;
      continue;
    }
    if (closed && !/\s/.test(char)) {
      return { error: `text after <...> at position ${i}` };
    }
    if (char === '"') quoted = true;
    else if (char === "<") angle = true;
    else if (char === ">") return { error: `'>' without '<' at position ${i}` };
    else if (char === ":") return { error: `group syntax (':') at position ${i}` };
  }
  if (quoted) return { error: "unclosed quote" };
  if (angle) return { error: "unclosed '<'" };
  push(list.length);
  return { entries };
}

/**
 * Splits a recipient list into its entries (see `scanAddressList`); a list whose structure is
 * unsound comes back whole, as one entry that `parseMailbox` then refuses.
 */
export function splitAddressList(text: string): string[] {
  const scanned = scanAddressList(text);
  if ("error" in scanned) return text.trim() === "" ? [] : [text.trim()];
  return scanned.entries.map((entry) => entry.text);
}

/** Parses a list of recipients; `invalid` holds the items that are not mailboxes. */
export function parseMailboxList(items: readonly string[]): {
  mailboxes: Mailbox[];
  invalid: string[];
} {
  const mailboxes: Mailbox[] = [];
  const invalid: string[] = [];
  for (const item of items.flatMap(splitAddressList)) {
    const mailbox = parseMailbox(item);
    if (mailbox) mailboxes.push(mailbox);
    else invalid.push(item);
  }
  return { mailboxes, invalid };
}

/** One mailbox in a config (`from`, `reply_to`), normalised to its header form. */
export const mailboxField = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const mailbox = parseMailbox(dataset.value);
    if (mailbox) return formatMailbox(mailbox);
    addIssue({ message: `${JSON.stringify(dataset.value)} is not an email address` });
    return NEVER;
  }),
);

/** Recipients in a config: one string (comma-separated) or an array, normalised to an array. */
export const mailboxListField = v.pipe(
  v.union([v.string(), v.array(v.string())], "must be an address or an array of addresses"),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const { mailboxes, invalid } = parseMailboxList(
      typeof dataset.value === "string" ? [dataset.value] : dataset.value,
    );
    for (const item of invalid) {
      addIssue({ message: `${JSON.stringify(item)} is not an email address` });
    }
    if (invalid.length > 0) return NEVER;
    if (mailboxes.length === 0) {
      addIssue({ message: "must name at least one address" });
      return NEVER;
    }
    return mailboxes.map(formatMailbox);
  }),
);
