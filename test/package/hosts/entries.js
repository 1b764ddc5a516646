// `<runtime> entries.js <specifier>...`: imports each of the package's entries as a user's app
// does (by package name, from node_modules) and prints, as JSON, the names each exports and one
// condition evaluated by the core on this runtime.
import { compileCondition, normalizeChangeEvent } from "fraiseql-observers";

const specifiers = globalThis.Deno ? globalThis.Deno.args : process.argv.slice(2);
const exports = {};
for (const specifier of specifiers) {
  exports[specifier] = Object.keys(await import(specifier)).sort();
}
const event = normalizeChangeEvent({
  id: "7b2f6a1e-2a4b-4c8e-9a57-1d2b3c4d5e6f",
  object_type: "Order",
  modification_type: "INSERT",
  object_data: '{"total": 100}',
  created_at: "2026-11-27 10:00:00+00",
});
console.log(
  JSON.stringify({ exports, evaluated: compileCondition("total == 100").evaluate(event) }),
);
