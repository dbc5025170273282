// Builds the browser app into ../pio_ui/static (not committed): the entry script, its chunks (pages
// other than the overview, the Socket.IO client: loaded when needed) and one CSS file, all named by
// content hash, pre-compressed with gzip, and index.html pointing at the entry and the CSS.
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { gzipSync } from "node:zlib";

const out = new URL("../pio_ui/static/", import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out + "assets", { recursive: true });

const result = await build({
  entryPoints: ["src/main.jsx"],
  bundle: true,
  splitting: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  jsx: "automatic",
  jsxImportSource: "preact",
  write: false,
  outdir: out + "assets",
  entryNames: "app-[hash]",
  chunkNames: "chunk-[hash]",
  loader: { ".css": "css" },
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
});

for (const file of result.outputFiles) {
  writeFileSync(file.path, file.contents);
  writeFileSync(file.path + ".gz", gzipSync(file.contents, { level: 9 }));
  console.log(`  ${basename(file.path)}  ${(file.contents.length / 1024).toFixed(1)} KiB, gzip ${(gzipSync(file.contents).length / 1024).toFixed(1)} KiB`);
}
const outputs = Object.entries(result.metafile.outputs);
const [entryPath, entry] = outputs.find(([p, o]) => o.entryPoint === "src/main.jsx" && p.endsWith(".js"));
const css = outputs.find(([p]) => p.endsWith(".css"))[0];
// the chunks the entry imports statically: fetched with it, not after it has been parsed
const preload = entry.imports.filter((i) => i.kind === "import-statement")
  .map((i) => `  <link rel="modulepreload" href="/assets/${basename(i.path)}">`).join("\n");
const html = readFileSync("index.html", "utf8")
  .replace("%CSS%", `/assets/${basename(css)}`)
  .replace("%JS%", `/assets/${basename(entryPath)}`)
  .replace("  %PRELOAD%", preload);
writeFileSync(out + "index.html", html);
