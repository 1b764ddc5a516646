import { renderTemplateSegments, type TemplateContext } from "../templates/index.ts";
import { type Mailbox, parseMailbox, scanAddressList } from "./email-address.ts";
import { ActionFailure } from "./types.ts";

/** A piece of the rendered list: literal text, or one value (an array value gives several). */
type Piece = { literal: string } | { value: string; placeholder: string };

/** Where one value landed in the rendered list, blanks around it left out. */
interface ValueSpan {
  placeholder: string;
  text: string;
  start: number;
  end: number;
}

function permanent(code: string, message: string): ActionFailure {
  return new ActionFailure("permanent", code, message);
}

function preview(text: string): string {
  const quoted = JSON.stringify(text);
  return quoted.length > 120 ? `${quoted.slice(0, 119)}…` : quoted;
}

/** An array of strings: a list the data holds as such, one recipient per item. */
function stringItems(value: unknown): string[] | null {
  return Array.isArray(value) && value.every((item) => typeof item === "string") ? value : null;
}

/**
 * The recipients `to_template` names for one event. The observer author's literal text gives the
 * list its structure (commas between placeholders list several recipients); a value from the row
 * fills in at most one recipient: all of it, or part of one (`{{ name }} <{{ email }}>`). A value
 * that would add a recipient or split one (a `,` or `;`, a second `<...>`, group syntax) fails
 * for good with RECIPIENT_NOT_ONE_ADDRESS rather than mail someone the author never listed. A
 * value that is a JSON array of strings lists one recipient per item.
 */
export function templateRecipients(source: string, context: TemplateContext): Mailbox[] {
  const pieces: Piece[] = [];
  for (const segment of renderTemplateSegments(source, "text", context)) {
    if (segment.kind === "literal") {
      pieces.push({ literal: segment.text });
      continue;
    }
    const items = stringItems(segment.value);
    if (items === null) {
      pieces.push({ value: segment.text, placeholder: segment.placeholder });
      continue;
    }
    items.forEach((item, i) => {
      if (i > 0) pieces.push({ literal: ", " });
      pieces.push({ value: item, placeholder: segment.placeholder });
    });
  }

  const list = assemble(pieces, () => true);
  const scanned = scanAddressList(list.text);
  if ("error" in scanned) {
    // Which value breaks a structure that is sound without the values (each value replaced by
    // one neutral word): an unclosed quote, a second `<...>`, group syntax...
    const culprit = pieces.find(
      (piece) =>
        "value" in piece && "error" in scanAddressList(assemble(pieces, (p) => p === piece).text),
    );
    if (culprit && "value" in culprit) {
      throw notOne(culprit.placeholder, culprit.value, scanned.error);
    }
    throw permanent(
      "INVALID_RECIPIENT",
      `to_template rendered ${preview(list.text)}, which is not a list of addresses: ${scanned.error}`,
    );
  }
  const { entries } = scanned;
  for (const span of list.spans) {
    if (!entries.some((entry) => entry.start <= span.start && span.end <= entry.end)) {
      throw notOne(span.placeholder, span.text, "it spans a list separator");
    }
  }
  const mailboxes: Mailbox[] = [];
  const bad: string[] = [];
  for (const entry of entries) {
    const mailbox = parseMailbox(entry.text);
    if (mailbox) mailboxes.push(mailbox);
    else bad.push(entry.text);
  }
  if (bad.length > 0) {
    throw permanent(
      "INVALID_RECIPIENT",
      `to_template rendered invalid address(es): ${bad.join(", ")}`,
    );
  }
  return mailboxes;
}

function notOne(placeholder: string, value: string, why: string): ActionFailure {
  return permanent(
    "RECIPIENT_NOT_ONE_ADDRESS",
    `to_template: ${placeholder} rendered ${preview(value)}, which is not (part of) exactly one address (${why}); a value may not add recipients`,
  );
}

/** The list text, with the values `real` picks as rendered and the others as one neutral word. */
function assemble(pieces: readonly Piece[], real: (piece: Piece) => boolean) {
  let text = "";
  const spans: ValueSpan[] = [];
  for (const piece of pieces) {
    if ("literal" in piece) {
      text += piece.literal;
      continue;
    }
    const trimmed = piece.value.trim();
    if (trimmed === "" || !real(piece)) {
      text += trimmed === "" ? piece.value : "x";
      continue;
    }
    const start = text.length + piece.value.length - piece.value.trimStart().length;
    spans.push({
      placeholder: piece.placeholder,
      text: piece.value,
      start,
      end: start + trimmed.length,
    });
    text += piece.value;
  }
  return { text, spans };
}
