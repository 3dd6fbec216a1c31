/// <reference types="vitest/config" />
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";

import { defineConfig, type Plugin } from "vite";

/** Files worth compressing (images such as .png are compressed already). */
const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|txt|webmanifest)$/;

/**
 * Writes `<file>.br` and `<file>.gz` beside each text file of the build,
 * at the highest levels (done once, at build time). The server sends them
 * with `Content-Encoding` to browsers that offer br or gzip
 * (server/src/net/http.rs), so a phone on a slow network downloads a
 * quarter of the bytes and the server spends no CPU per request.
 */
export function precompress(): Plugin {
  let outDir = "dist";
  return {
    name: "parasol-precompress",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((name) => {
          const path = join(dir, name);
          return statSync(path).isDirectory() ? walk(path) : [path];
        });
      for (const path of walk(outDir)) {
        if (!COMPRESSIBLE.test(path)) continue;
        const bytes = readFileSync(path);
        writeFileSync(
          `${path}.br`,
          brotliCompressSync(bytes, {
            params: {
              [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
              [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY,
              [zlib.BROTLI_PARAM_LGWIN]: zlib.BROTLI_MAX_WINDOW_BITS,
              [zlib.BROTLI_PARAM_SIZE_HINT]: bytes.length,
            },
          }),
        );
        writeFileSync(`${path}.gz`, gzipSync(bytes, { level: 9 }));
      }
    },
  };
}

// The headers the Parasol server must send with the built page (docs/architecture.md).
// `vite preview` sends them too, so the browser smoke test runs the page
// under the same strict policy it gets in production.
export const SECURITY_HEADERS = {
  "Content-Security-Policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "Cache-Control": "no-store",
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
};

export default defineConfig({
  plugins: [precompress()],
  build: {
    target: "es2022",
    // Two pages: the visitor's (/) and the counsellors' console
    // (/console.html). Visitors never download the console's code.
    rollupOptions: {
      input: { main: "index.html", console: "console.html" },
    },
    // The polyfill is only for browsers without <link rel=modulepreload>;
    // leaving it out keeps the output free of anything CSP-sensitive.
    modulePreload: { polyfill: false },
    // Inlined assets would become data: URLs, which the CSP does not allow.
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: true,
  },
  esbuild: {
    jsx: "automatic",
    jsxImportSource: "preact",
  },
  preview: {
    headers: SECURITY_HEADERS,
  },
  test: {
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
    environment: "node",
    testTimeout: 30_000,
  },
});
