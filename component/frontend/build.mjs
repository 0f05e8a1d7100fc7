// Builds ../../genviz/component/build/ (or the folder given as its argument): the Streamlit component's index.html and index.js, the static
// site's site.html and site.js (`genviz site` copies them), the notebook widget's notebook.js (genviz.notebook), each bundle minified and deterministic (no
// timestamps, no absolute paths, no source map), and the one onnxruntime-web file both load at run time, its WASM binary.
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ? resolve(process.argv[2]) : join(here, "..", "..", "genviz", "component", "build"); // `node build.mjs DIR`: elsewhere
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await esbuild.build({
  absWorkingDir: here,
  entryPoints: { index: "src/index.ts", site: "src/site/main.ts", notebook: "src/notebook.ts" },
  loader: { ".css": "text" },
  outdir: out,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "eof",
  sourcemap: false,
  logLevel: "warning",
});
copyFileSync(join(here, "index.html"), join(out, "index.html"));
copyFileSync(join(here, "site.html"), join(out, "site.html"));
copyFileSync(join(here, "node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm"), join(out, "ort-wasm-simd-threaded.wasm"));
