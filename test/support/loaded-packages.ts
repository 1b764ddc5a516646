/**
 * `node loaded-packages.ts <module>`: imports the module and prints (JSON) the packages the
 * project's own files load on the way, sorted: what a user's `import` of that entry really pulls
 * in, dynamic imports not taken excepted. Packages loaded only by other packages are not listed
 * (they come with the dependency that needs them).
 */
import { registerHooks } from "node:module";
import { pathToFileURL } from "node:url";

const loaded = new Set<string>();

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] as string);
}

registerHooks({
  resolve(specifier, context, nextResolve) {
    const bare = !/^(\.|\/|node:|file:|data:)/.test(specifier);
    const fromOurs =
      context.parentURL !== undefined && !context.parentURL.includes("/node_modules/");
    if (bare && fromOurs) loaded.add(packageName(specifier));
    return nextResolve(specifier, context);
  },
});

const target = process.argv[2];
if (target === undefined)
  throw new Error("usage: loaded-packages.ts <module path or package name>");
await import(target.startsWith("/") ? pathToFileURL(target).href : target);
console.log(JSON.stringify([...loaded].sort()));
