// After `vite build`: the size of what a phone downloads (gzipped JS and
// CSS) and the SHA-384 of every built file, in the form of a subresource
// integrity hash, so an organisation can check what its server serves.

import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
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
console.log(`All JS:  ${kb(js.raw)} raw, ${kb(js.gzip)} gzipped`);
console.log(`All CSS: ${kb(css.raw)} raw, ${kb(css.gzip)} gzipped`);

// What each page loads at start: its module script and the modulepreloads
// Vite puts in its HTML (chunks imported only on demand are not counted;
// those of ts-mls are for ciphersuites Parasol does not use).
for (const page of ["index.html", "console.html"]) {
  const html = readFileSync(join(dist, page), "utf8");
  const urls = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*rel="modulepreload"[^>]*\shref)="\/([^"]+\.js)"/g)].map((m) => m[1]);
  const gz = urls.reduce((n, u) => n + gzipSync(readFileSync(join(dist, u)), { level: 9 }).length, 0);
  console.log(`${page}: ${kb(gz)} of JS gzipped at start (${urls.length} files)`);
}
console.log("SHA-384 of the built files:");
const hashes = all.map((f) => `sha384-${createHash("sha384").update(readFileSync(f)).digest("base64")}  ${relative(dist, f)}`);
for (const h of hashes) console.log(`  ${h}`);

// `--write-readme`: put this build's hashes into README.md, between the markers.
if (process.argv.includes("--write-readme")) {
  const readme = fileURLToPath(new URL("../README.md", import.meta.url));
  const text = readFileSync(readme, "utf8");
  const begin = "<!-- build-hashes:begin -->";
  const end = "<!-- build-hashes:end -->";
  const at = text.indexOf(begin);
  const to = text.indexOf(end);
  if (at < 0 || to < at) throw new Error("README.md has no build-hashes markers");
  const block = `${begin}\n\n\`\`\`\n${hashes.join("\n")}\n\`\`\`\n\n${end}`;
  writeFileSync(readme, text.slice(0, at) + block + text.slice(to + end.length));
  console.log("README.md: build hashes written");
}
