// Builds the browser app into ../pio_ui/static (not committed): one JS and one CSS file with
// content hashes, pre-compressed with gzip, and index.html pointing at them.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const out = new URL("../pio_ui/static/", import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out + "assets", { recursive: true });

const result = await build({
  entryPoints: ["src/main.jsx"],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  jsx: "automatic",
  jsxImportSource: "preact",
  write: false,
  outdir: "bundle",
  loader: { ".css": "css" },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
});

const names = {};
for (const file of result.outputFiles) {
  const ext = file.path.endsWith(".css") ? "css" : "js";
  const hash = createHash("sha256").update(file.contents).digest("hex").slice(0, 10);
  const name = `app-${hash}.${ext}`;
  writeFileSync(out + "assets/" + name, file.contents);
  writeFileSync(out + "assets/" + name + ".gz", gzipSync(file.contents, { level: 9 }));
  names[ext] = name;
  console.log(`  ${name}  ${(file.contents.length / 1024).toFixed(1)} KiB, gzip ${(gzipSync(file.contents).length / 1024).toFixed(1)} KiB`);
}
const html = readFileSync("index.html", "utf8")
  .replace("%CSS%", `/assets/${names.css}`)
  .replace("%JS%", `/assets/${names.js}`);
writeFileSync(out + "index.html", html);
