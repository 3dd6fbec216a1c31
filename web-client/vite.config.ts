/// <reference types="vitest/config" />
import { defineConfig } from "vite";

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
