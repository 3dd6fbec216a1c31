// After `vite build`: the size of what a phone downloads (JS and CSS,
// brotli and gzip as the server sends them) and the SHA-384 of every built
// file, in the form of a subresource integrity hash, so an organisation can
// check what its server serves.
//
//   node scripts/report-build.mjs                 print sizes and hashes
//   node scripts/report-build.mjs --write-readme  put the hashes into README.md
//   node scripts/report-build.mjs --check         fail when README.md's list differs
//
// The `.br` and `.gz` files the build writes beside each file are left out
// of the list: they are the same bytes, compressed (a browser decompresses
// them before it checks anything), and `curl` without `--compressed` gets
// the listed file.

import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../dist/", import.meta.url));
const readmePath = fileURLToPath(new URL("../README.md", import.meta.url));
const BEGIN = "<!-- build-hashes:begin -->";
const END = "<!-- build-hashes:end -->";

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const isCompressedCopy = (f) => f.endsWith(".br") || f.endsWith(".gz");
const all = files(dist)
  .filter((f) => !isCompressedCopy(f))
  .sort();
/** Bytes as sent: the file, its `.br` and its `.gz` (written by the build's precompress plugin). */
const sizes = (f) => {
  const raw = statSync(f).size;
  const of = (ext) => {
    try {
      return statSync(`${f}${ext}`).size;
    } catch {
      return raw;
    }
  };
  return { raw, br: of(".br"), gzip: of(".gz") };
};
const sum = (list) => list.map(sizes).reduce((a, s) => ({ raw: a.raw + s.raw, br: a.br + s.br, gzip: a.gzip + s.gzip }), { raw: 0, br: 0, gzip: 0 });
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const show = (s) => `${kb(s.raw)} raw, ${kb(s.br)} brotli, ${kb(s.gzip)} gzip`;

console.log(`All JS:  ${show(sum(all.filter((f) => f.endsWith(".js"))))}`);
console.log(`All CSS: ${show(sum(all.filter((f) => f.endsWith(".css"))))}`);

/** The JS files a module imports statically (`import … from "./x.js"`), and dynamically (`import("./x.js")`). */
function imports(file) {
  const text = readFileSync(file, "utf8");
  const dir = join(file, "..");
  const statically = [...text.matchAll(/(?:^|[;\n}])\s*import\s*(?:[^"'();]*?from\s*)?["'](\.\/[^"']+\.js)["']/g)].map((m) => join(dir, m[1]));
  const dynamically = [...text.matchAll(/import\(\s*["'](\.\/[^"']+\.js)["']\s*\)/g)].map((m) => join(dir, m[1]));
  return { statically, dynamically };
}

// What each page loads at start: its module script, its modulepreloads and
// their static imports. For the visitor's page also what it fetches after
// the first screen (the chat's MLS code, `visitor/live.ts`, and its imports;
// ts-mls's chunks for ciphersuites Parasol never loads are not counted).
for (const page of ["index.html", "console.html"]) {
  const html = readFileSync(join(dist, page), "utf8");
  const start = new Set(
    [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*rel="modulepreload"[^>]*\shref)="\/([^"]+\.js)"/g)].map((m) => join(dist, m[1])),
  );
  const closure = (roots) => {
    const seen = new Set(roots);
    for (const f of seen) for (const i of imports(f).statically) seen.add(i);
    return seen;
  };
  const atStart = closure(start);
  console.log(`${page}: ${show(sum([...atStart]))} of JS at start (${atStart.size} files)`);
  if (page === "index.html") {
    const lazyRoots = [...atStart].flatMap((f) => imports(f).dynamically).filter((f) => /\/live-[^/]+\.js$/.test(f));
    const later = [...closure(lazyRoots)].filter((f) => !atStart.has(f));
    console.log(`${page}: ${show(sum(later))} of JS after the first screen (the chat, ${later.length} files)`);
    console.log(`${page}: ${show(sum([...atStart, ...later]))} of JS in all`);
  }
}

const hashes = all.map((f) => `sha384-${createHash("sha384").update(readFileSync(f)).digest("base64")}  ${relative(dist, f)}`);
console.log("SHA-384 of the built files:");
for (const h of hashes) console.log(`  ${h}`);

const block = `${BEGIN}\n\n\`\`\`\n${hashes.join("\n")}\n\`\`\`\n\n${END}`;
const readme = readFileSync(readmePath, "utf8");
const at = readme.indexOf(BEGIN);
const to = readme.indexOf(END);
if (at < 0 || to < at) throw new Error("README.md has no build-hashes markers");

if (process.argv.includes("--write-readme")) {
  writeFileSync(readmePath, readme.slice(0, at) + block + readme.slice(to + END.length));
  console.log("README.md: build hashes written");
} else if (process.argv.includes("--check")) {
  if (readme.slice(at, to + END.length) !== block) {
    console.error("README.md: the subresource-hash list differs from this build; run `npx vite build && node scripts/report-build.mjs --write-readme`");
    process.exit(1);
  }
  console.log("README.md: the subresource-hash list matches this build");
}
