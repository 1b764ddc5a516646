import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ChangeEvent, ConfigError, parseJson } from "../../src/index.ts";
import {
  compileTemplate,
  EVENT_FIELDS,
  renderTemplate,
  renderTemplateSegments,
  TEMPLATE_CACHE_SIZE,
  type Template,
  type TemplateContext,
  type TemplateMode,
  templateIssues,
} from "../../src/templates/index.ts";
import { insert, remove, update } from "../support/events.ts";

function context(event: ChangeEvent): TemplateContext {
  return {
    event,
    observer: { id: "obs-1", name: "Order shipped" },
    deliveryId: "dlv-9",
    attempt: 2,
  };
}

function text(source: string, event: ChangeEvent = insert({})): string {
  return compileTemplate(source, "text").render(context(event));
}

function json(source: string, event: ChangeEvent = insert({})): string {
  return compileTemplate(source, "json").render(context(event));
}

/** Renders in JSON mode and parses the result, which must always succeed. */
function jsonValue(source: string, event: ChangeEvent = insert({})): unknown {
  return JSON.parse(json(source, event));
}

/** An event with every field set, and a row read from JSON text (bigints exact). */
function fullEvent(): ChangeEvent {
  const base = update(
    { status: "shipped", total: 150 },
    { status: "pending", total: 150 },
    {
      tenant_id: "tenant-7",
      transaction_id: 9001,
    },
  );
  return { ...base, source: { connector: "postgresql", lsn: 123 } };
}

const issuesOf = (source: string, mode: TemplateMode = "text") =>
  templateIssues(source, mode).map((issue) => issue.message);

describe("roots", () => {
  const event = fullEvent();

  it.each(EVENT_FIELDS)("event.%s reads the event's field", (field) => {
    const value = event[field];
    const expected =
      value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
    expect(text(`{{ event.${field} }}`, event)).toBe(expected);
  });

  it("reads each event field concretely", () => {
    expect(text("{{ event.entity_type }}/{{ event.entity_id }}", event)).toBe("Order/42");
    expect(text("{{ event.event_type }} {{ event.op }}", event)).toBe("UPDATE u");
    expect(text("{{ event.tenant_id }} {{ event.transaction_id }}", event)).toBe("tenant-7 9001");
    expect(text("{{ event.timestamp }}", event)).toBe("2026-11-27T10:00:00.000Z");
    expect(text("{{ event.source.connector }}", event)).toBe("postgresql");
    expect(text("{{ event.before.status }}->{{ event.after.status }}", event)).toBe(
      "pending->shipped",
    );
    expect(text("{{ event.changes.status.new }}", event)).toBe("shipped");
  });

  it("{{ event }} is the event's documented fields as JSON", () => {
    const extra = { ...event, internal: "not for templates" } as ChangeEvent;
    const rendered = jsonValue("{{ event }}", extra) as Record<string, unknown>;
    expect(Object.keys(rendered)).toEqual([...EVENT_FIELDS]);
    expect(rendered).toEqual(JSON.parse(JSON.stringify(event)));
  });

  it("after, before and changes", () => {
    expect(text("{{ after.status }} {{ before.status }}", event)).toBe("shipped pending");
    expect(text("{{ changes.status.old }}->{{ changes.status.new }}", event)).toBe(
      "pending->shipped",
    );
    expect(jsonValue("{{ changes }}", event)).toEqual({
      status: { old: "pending", new: "shipped" },
    });
    expect(text("{{ changes.total.old }}", event)).toBe("");
    expect(jsonValue("[{{ changes }}, {{ before }}, {{ after }}]", insert({ a: 1 }))).toEqual([
      null,
      null,
      { a: 1 },
    ]);
  });

  it("observer and delivery", () => {
    expect(text("{{ observer.id }} {{ observer.name }}", event)).toBe("obs-1 Order shipped");
    expect(text("{{ delivery.id }} #{{ delivery.attempt }}", event)).toBe("dlv-9 #2");
    expect(jsonValue('{"o": {{ observer }}, "d": {{ delivery }}}', event)).toEqual({
      o: { id: "obs-1", name: "Order shipped" },
      d: { id: "dlv-9", attempt: 2 },
    });
  });
});

describe("paths", () => {
  const row = {
    items: [{ sku: "A-1", tags: ["x", "y"] }, { sku: "B-2" }],
    matrix: [
      [1, 2],
      [3, 4],
    ],
    byIndex: { "0": "zero" },
    customer: { address: { city: "Lyon" } },
  };

  it.each([
    ["{{ after.customer.address.city }}", "Lyon"],
    ["{{ after.items.0.sku }}", "A-1"],
    ["{{ after.items[1].sku }}", "B-2"],
    ["{{ after.items[0].tags[1] }}", "y"],
    ["{{ after.items.0.tags.0 }}", "x"],
    ["{{ after.matrix[1][0] }}", "3"],
    ["{{ after.byIndex.0 }}", "zero"],
    ["{{ after.byIndex[0] }}", "zero"],
    ["{{ after.items[2].sku }}", ""],
    ["{{ after.items.sku }}", ""],
    ["{{ after.items.length }}", ""],
    ["{{ after.items[0].sku.length }}", ""],
    ["{{ after.items[99999999999999999999] }}", ""],
    ["{{ after.customer.missing.deeper }}", ""],
    ["{{ items[1].sku }}", "B-2"],
  ])("%s", (source, expected) => {
    expect(text(source, insert(row))).toBe(expected);
  });
});

describe("FraiseQL's top-level form", () => {
  it("reads the after-image", () => {
    expect(text("Order {{ id }} is {{ status }}", insert({ id: 7, status: "new" }))).toBe(
      "Order 7 is new",
    );
    expect(text("{{ status }}", update({ status: "shipped" }, { status: "pending" }))).toBe(
      "shipped",
    );
  });

  it("reads the before-image of a delete", () => {
    expect(text("{{ status }} {{ after.status }}", remove({ status: "gone" }))).toBe("gone ");
  });

  it("reads a row field, not the event's, for a key that is not a root", () => {
    const event = insert({ id: "row-id" });
    expect(text("{{ id }}", event)).not.toBe(event.id);
    expect(text("{{ id }}", event)).toBe("row-id");
  });

  it("reaches a column named like a root through its image", () => {
    const event = insert({ event: "launch", observer: "me" });
    expect(text("{{ after.event }} {{ after.observer }}", event)).toBe("launch me");
    expect(text("{{ event.entity_type }}", event)).toBe("Order");
  });
});

describe("text mode", () => {
  const event = insert(
    JSON.parse('{"s": "a \\"b\\"", "n": 1.5, "i": -3, "t": true, "f": false, "z": null}'),
  );

  it.each([
    ["{{ s }}", 'a "b"'],
    ["{{ n }} {{ i }}", "1.5 -3"],
    ["{{ t }}/{{ f }}", "true/false"],
    ["[{{ z }}]", "[]"],
    ["[{{ nope }}]", "[]"],
    ["{{s}}|{{  s  }}|{{\ts\n}}", 'a "b"|a "b"|a "b"'],
    ["a }} b } c {", "a }} b } c {"],
    ["no placeholders", "no placeholders"],
    ["", ""],
  ])("%j", (source, expected) => {
    expect(text(source, event)).toBe(expected);
  });

  it("writes objects and arrays as JSON, and bigints exactly", () => {
    const big = insert(parseJson('{"n": 12345678901234567890123, "o": {"a": [1, "x"]}}') as never);
    expect(text("{{ n }}", big)).toBe("12345678901234567890123");
    expect(text("{{ o }} {{ o.a }}", big)).toBe('{"a":[1,"x"]} [1,"x"]');
  });

  it("does not expand placeholders found in values", () => {
    expect(text("{{ a }}", insert({ a: "{{ b }}", b: "no" }))).toBe("{{ b }}");
  });
});

describe("json mode", () => {
  const event = insert(
    parseJson(
      '{"s": "hi", "n": 2.5, "big": 12345678901234567890123, "t": true, "z": null, "o": {"k": [1]}}',
    ) as never,
  );

  it("writes JSON tokens outside strings", () => {
    const source =
      '{"s": {{ s }}, "n": {{ n }}, "t": {{ t }}, "z": {{ z }}, "o": {{ o }}, "m": {{ missing }}}';
    expect(jsonValue(source, event)).toEqual({
      s: "hi",
      n: 2.5,
      t: true,
      z: null,
      o: { k: [1] },
      m: null,
    });
  });

  it("writes bigints exactly", () => {
    const rendered = json('{"big": {{ big }}, "in": "{{ big }}"}', event);
    expect(rendered).toBe('{"big": 12345678901234567890123, "in": "12345678901234567890123"}');
    expect(parseJson(rendered)).toEqual({
      big: 12345678901234567890123n,
      in: "12345678901234567890123",
    });
  });

  it("writes text inside strings, with missing and null as nothing", () => {
    const source = '{"a": "{{ s }}-{{ n }}-{{ t }}-{{ z }}-{{ missing }}-{{ o }}"}';
    expect(jsonValue(source, event)).toEqual({ a: 'hi-2.5-true---{"k":[1]}' });
  });

  it("tracks escaped quotes and backslashes in the template's strings", () => {
    expect(jsonValue('{"a": "say \\"{{ s }}\\"", "b": {{ s }}}', event)).toEqual({
      a: 'say "hi"',
      b: "hi",
    });
    expect(jsonValue('{"a": "c:\\\\", "b": {{ s }}, "c": "\\u0041{{ s }}"}', event)).toEqual({
      a: "c:\\",
      b: "hi",
      c: "Ahi",
    });
    expect(jsonValue('{"{{ s }}": {"x": {{ n }}}}', event)).toEqual({ hi: { x: 2.5 } });
  });

  it("keeps a lone '}}' literal (nested objects end with it)", () => {
    expect(jsonValue('{"a": {"b": {{ n }}}}', event)).toEqual({ a: { b: 2.5 } });
  });

  const hostile = [
    '"',
    "\\",
    '"}',
    '", "admin": true, "x": "',
    '"}, "admin": true, {"',
    "\\u0022",
    "line\nbreak\r\ttab",
    Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(""),
    "\u2028\u2029",
    "\ud800 lone surrogate",
    "</script><script>alert(1)</script>",
    "{{ s }}",
    "null",
    "]}",
  ];

  it.each(hostile)("a value %j cannot break out", (value) => {
    const source = '{"msg": "hi {{ v }}!", "raw": {{ v }}, "list": ["{{ v }}", {{ v }}]}';
    const rendered = json(source, insert({ v: value }));
    expect(JSON.parse(rendered)).toEqual({
      msg: `hi ${value}!`,
      raw: value,
      list: [value, value],
    });
    expect(rendered).not.toMatch(/[\u2028\u2029]/);
  });

  it("escapes hostile keys and values inside objects written as tokens", () => {
    const o = { '"}': "\u2028", "\\": ['"'] };
    const rendered = json('{"o": {{ o }}}', insert({ o }));
    expect(JSON.parse(rendered)).toEqual({ o });
    expect(rendered).not.toMatch(/[\u2028\u2029]/);
  });
});

describe("own properties only", () => {
  const polluted = insert(
    JSON.parse('{"__proto__": {"x": "own"}, "list": [1], "obj": {}}') as Record<string, unknown>,
  );

  it("reads an own '__proto__' key as data", () => {
    expect(text("{{ __proto__.x }} {{ after.__proto__.x }}", polluted)).toBe("own own");
  });

  it.each([
    "{{ constructor }}",
    "{{ toString }}",
    "{{ hasOwnProperty }}",
    "{{ after.obj.constructor }}",
    "{{ after.obj.__proto__ }}",
    "{{ list.constructor }}",
    "{{ list.push }}",
    "{{ event.after.valueOf }}",
    "{{ changes.constructor }}",
  ])("%s reads nothing from the prototype", (source) => {
    expect(text(source, polluted)).toBe("");
    expect(json(source, polluted)).toBe("null");
  });

  it("ignores inherited fields of a hand-built row", () => {
    const inherited = Object.create({ secret: "leak" }) as Record<string, never>;
    const event = { ...insert({}), after: inherited };
    expect(text("[{{ secret }}{{ after.secret }}]", event)).toBe("[]");
  });
});

describe("templateIssues", () => {
  it.each([
    ["hello {{ name", "unclosed '{{' at position 6"],
    ["{{}}", "empty placeholder at position 0"],
    ["ab {{   }}", "empty placeholder at position 3"],
    ["x {{ a..b }}", "malformed path at position 6 in '{{ a..b }}'"],
    ["{{ a. }}", "malformed path at position 4"],
    ["{{ a[x] }}", "malformed path at position 4"],
    ["{{ a[1 }}", "malformed path at position 4"],
    ["{{ a b }}", "malformed path at position 4"],
    ["{{ 0 }}", "malformed path at position 3"],
    ["{{ a-b }}", "malformed path at position 4"],
    ["{{{ x }}}", "malformed path at position 2"],
    ["{{ name | upper }}", "unsupported filter at position 8"],
    [
      "{{ event.foo }}",
      "malformed path at position 9 in '{{ event.foo }}': event has no field 'foo'",
    ],
    ["{{ observer.email }}", "observer has no field 'email'"],
    ["{{ delivery[0] }}", "malformed path at position 12"],
  ])("%j: %s", (source, message) => {
    const issues = templateIssues(source, "text");
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe("");
    expect(issues[0]?.message).toContain(message);
  });

  it("reports every bad placeholder", () => {
    expect(issuesOf("{{ }} and {{ a. }} and {{ ok }}")).toEqual([
      expect.stringContaining("position 0"),
      expect.stringContaining("position 14"),
    ]);
  });

  it.each([
    ["a }} b", "text"],
    ['{"a": {"b": 1}}', "json"],
    ['{"a": "{{ x }}", "b": {{ y }}}', "json"],
    ["{{ event }} {{ after }} {{ delivery.attempt }} {{ a_1.B2[3] }}", "text"],
  ] as const)("%j (%s) has none", (source, mode) => {
    expect(templateIssues(source, mode)).toEqual([]);
  });

  it.each([
    '{"a": {{ x }}',
    '{"a": {{ x }}{{ y }}}',
    "{ {{ k }}: 1 }",
    '{"a": -{{ x }}}',
    '{"a": "{{ x }}}',
    "not json {{ x }}",
  ])("json mode: %j is not valid JSON", (source) => {
    expect(issuesOf(source, "json")).toEqual([
      expect.stringMatching(/^is not valid JSON once its placeholders are filled: ./),
    ]);
    expect(templateIssues(source, "text")).toEqual([]);
  });

  it("json mode: a placeholder may not split an escape sequence", () => {
    expect(issuesOf('"\\u{{ x }}0041"', "json")).toEqual([
      "placeholder at position 3 interrupts an escape sequence in a JSON string",
    ]);
    expect(issuesOf('"\\{{ x }}"', "json")).toEqual([
      "placeholder at position 2 interrupts an escape sequence in a JSON string",
    ]);
  });
});

describe("compileTemplate and renderTemplate", () => {
  it("compileTemplate throws a ConfigError carrying the issues", () => {
    const source = "{{ a.. }} {{";
    const error = (() => {
      try {
        compileTemplate(source, "text");
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe("INVALID_CONFIG");
    expect((error as ConfigError).issues).toEqual(templateIssues(source, "text"));
    expect((error as ConfigError).issues).toHaveLength(2);
  });

  it("a compiled template keeps its source and mode, and renders repeatedly", () => {
    const template = compileTemplate("{{ n }}", "json");
    expect(template.source).toBe("{{ n }}");
    expect(template.mode).toBe("json");
    expect(template.render(context(insert({ n: 1 })))).toBe("1");
    expect(template.render(context(insert({ n: "1" })))).toBe('"1"');
  });

  it("renderTemplate renders, keyed by mode as well as source", () => {
    const ctx = context(insert({ s: "x" }));
    expect(renderTemplate("{{ s }}", "text", ctx)).toBe("x");
    expect(renderTemplate("{{ s }}", "json", ctx)).toBe('"x"');
    expect(renderTemplate("{{ s }}", "text", ctx)).toBe("x");
    expect(() => renderTemplate("{{", "text", ctx)).toThrow(ConfigError);
  });

  it("renderTemplateSegments gives the render's pieces: literals, and each value raw and as text", () => {
    const ctx = context(insert({ name: "Doe, Jane", list: ["a", "b"] }));
    const source = "To {{ name }} <{{ missing }}>{{ list }}";
    const segments = renderTemplateSegments(source, "text", ctx);
    expect(segments).toEqual([
      { kind: "literal", text: "To " },
      { kind: "value", text: "Doe, Jane", value: "Doe, Jane", placeholder: "{{ name }}" },
      { kind: "literal", text: " <" },
      { kind: "value", text: "", value: expect.any(Symbol), placeholder: "{{ missing }}" },
      { kind: "literal", text: ">" },
      { kind: "value", text: '["a","b"]', value: ["a", "b"], placeholder: "{{ list }}" },
    ]);
    expect(segments.map((segment) => segment.text).join("")).toBe(
      renderTemplate(source, "text", ctx),
    );
  });

  it("renderTemplate stays correct past its cache bound", () => {
    const ctx = context(insert({ s: "x" }));
    for (let i = 0; i <= TEMPLATE_CACHE_SIZE + 5; i++) {
      expect(renderTemplate(`${i}:{{ s }}`, "text", ctx)).toBe(`${i}:x`);
    }
    expect(renderTemplate("0:{{ s }}", "text", ctx)).toBe("0:x");
  });
});

describe("properties", () => {
  const anyString = fc.oneof(
    fc.string({ unit: "binary" }),
    fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
  );
  const template = compileTemplate(
    '{"s": "<{{ v }}>", "t": {{ v }}, "m": [{{ missing }}, "{{ missing }}"]}',
    "json",
  );

  it("any string value renders into parseable JSON and round-trips", () => {
    fc.assert(
      fc.property(anyString, (value) => {
        const parsed = JSON.parse(template.render(context(insert({ v: value }))));
        expect(parsed).toEqual({ s: `<${value}>`, t: value, m: [null, ""] });
      }),
    );
  });

  it("any JSON value renders into parseable JSON and round-trips", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const event = { ...insert({}), after: { v: value } } as ChangeEvent;
        const parsed = JSON.parse(template.render(context(event)));
        const expected = JSON.parse(JSON.stringify(value)) as unknown;
        const asText =
          typeof value === "string" ? value : value === null ? "" : JSON.stringify(value);
        expect(parsed).toEqual({ s: `<${asText}>`, t: expected, m: [null, ""] });
      }),
    );
  });

  /** A JSON-mode template and the value it should render to, given the value of `{{ a }}`. */
  type Built = [source: string, expected: (a: unknown) => unknown];
  const asText = (v: unknown) => (typeof v === "string" ? v : v === null ? "" : JSON.stringify(v));
  const piece = fc.constantFrom<[string, (a: unknown) => string]>(
    ["x", () => "x"],
    [" ", () => " "],
    ['\\"', () => '"'],
    ["\\\\", () => "\\"],
    ["\\n", () => "\n"],
    ["\\u0041", () => "A"],
    ["}}", () => "}}"],
    ["}", () => "}"],
    ["{{ a }}", asText],
    ["{{a}}", asText],
  );
  const jsonString = fc
    .array(piece, { maxLength: 5 })
    .map(
      (pieces): Built => [
        `"${pieces.map(([source]) => source).join("")}"`,
        (a) => pieces.map(([, expected]) => expected(a)).join(""),
      ],
    );
  const { value: builtTemplate } = fc.letrec<{ value: Built; array: Built; object: Built }>(
    (tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.constant<Built>(["{{ a }}", (a) => a ?? null]),
        fc
          .constantFrom("1", "null", "true", "-2.5e3", "[]", "{}")
          .map((literal): Built => [literal, () => JSON.parse(literal)]),
        jsonString,
        tie("array"),
        tie("object"),
      ),
      array: fc
        .array(tie("value"), { maxLength: 3 })
        .map(
          (items): Built => [
            `[${items.map(([source]) => source).join(", ")}]`,
            (a) => items.map(([, expected]) => expected(a)),
          ],
        ),
      object: fc
        .array(fc.tuple(jsonString, tie("value")), { maxLength: 3 })
        .map(
          (entries): Built => [
            `{${entries.map(([[key], [value]]) => `${key}: ${value}`).join(", ")}}`,
            (a) => Object.fromEntries(entries.map(([[, key], [, value]]) => [key(a), value(a)])),
          ],
        ),
    }),
  );

  it("json templates built from valid JSON compile, and render what they spell for any value", () => {
    fc.assert(
      fc.property(builtTemplate, fc.oneof(anyString, fc.jsonValue()), ([source, expected], a) => {
        const normalized = JSON.parse(JSON.stringify(a)) as unknown;
        const event = { ...insert({}), after: { a } } as ChangeEvent;
        const rendered = compileTemplate(source, "json").render(context(event));
        expect(JSON.parse(rendered)).toEqual(expected(normalized));
      }),
      { numRuns: 300 },
    );
  });

  it("templateIssues is total; what compiles in json mode always renders parseable JSON", () => {
    const source = fc.stringMatching(/^(?:[{}"\\ a.[\]0|:u,]|\{\{ a \}\}){0,16}$/);
    const value = fc.oneof(anyString, fc.jsonValue());
    const mode = fc.constantFrom<TemplateMode>("text", "json");
    fc.assert(
      fc.property(source, mode, value, (src, mode, v) => {
        const issues = templateIssues(src, mode);
        let template: Template;
        try {
          template = compileTemplate(src, mode);
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          expect(issues.length).toBeGreaterThan(0);
          return;
        }
        expect(issues).toEqual([]);
        const event = { ...insert({}), after: { a: v } } as ChangeEvent;
        const rendered = template.render(context(event));
        if (mode === "json") JSON.parse(rendered);
      }),
      { numRuns: 500 },
    );
  });
});

describe("template options", () => {
  const event = insert({ id: 7, name: "<b>Ann</b> & co", tags: ["<x>"] });
  const upper = { escape: (text: string) => `[${text.toUpperCase()}]` };

  it("escapes values, never the template's own text", () => {
    expect(
      renderTemplate("<p>{{ name }}</p> {{ id }} {{ tags }}", "text", context(event), upper),
    ).toBe('<p>[<B>ANN</B> & CO]</p> [7] [["<X>"]]');
    // Another options object has its own cache: the plain rendering is unaffected.
    expect(renderTemplate("<p>{{ name }}</p>", "text", context(event))).toBe(
      "<p><b>Ann</b> & co</p>",
    );
  });

  it("reports a missing value with the placeholder's source when asked", () => {
    const seen: string[] = [];
    const options = { onMissing: (placeholder: string) => void seen.push(placeholder) };
    expect(renderTemplate("a{{ id }}b{{  after.nope }}c", "text", context(event), options)).toBe(
      "a7bc",
    );
    expect(seen).toEqual(["{{  after.nope }}"]);
    const strict = {
      onMissing: (placeholder: string) => {
        throw new Error(`no value for ${placeholder}`);
      },
    };
    expect(() => renderTemplate("{{ nope }}", "text", context(event), strict)).toThrow(
      "no value for {{ nope }}",
    );
  });

  it("refuses an escape in json mode, which escapes for JSON itself", () => {
    expect(() => compileTemplate('{"a": "{{ id }}"}', "json", upper)).toThrow(/text mode only/);
  });
});
