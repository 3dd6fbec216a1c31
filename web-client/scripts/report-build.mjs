// After `vite build`: the size of what a phone downloads (gzipped JS and
// CSS) and the SHA-384 of every built file, in the form of a subresource
// integrity hash, so an organisation can check what its server serves.

import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const all = files(dist).sort();
const size = (ext) =>
  all.filter((f) => f.endsWith(ext)).reduce(
    (acc, f) => {
      const bytes = readFileSync(f);
      return { raw: acc.raw + bytes.length, gzip: acc.gzip + gzipSync(bytes, { level: 9 }).length };
    },
    { raw: 0, gzip: 0 },
  );

const js = size(".js");
const css = size(".css");
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`JS:  ${kb(js.raw)} raw, ${kb(js.gzip)} gzipped`);
console.log(`CSS: ${kb(css.raw)} raw, ${kb(css.gzip)} gzipped`);
console.log("SHA-384 of the built files:");
for (const f of all) {
  const digest = createHash("sha384").update(readFileSync(f)).digest("base64");
  console.log(`  sha384-${digest}  ${relative(dist, f)}`);
}
