// Bundle the portal's browser modules with the pinned esbuild into gateway/portal/static/
// (STYLE.md item 9): minified ES modules, no source maps, byte-identical on every run, and a
// manifest stamped with esbuild's version, the exact settings and the SHA-256 of every input
// (our sources, the npm modules that went in, the contract artifacts the event ABIs come from)
// and of every output. The gateway serves these files as they are; running the product needs no
// Node.js. scripts/check-portal rebuilds into a temporary directory and fails on any difference.
//
// Three builds: (1) the verifier and the payload encryption as standalone modules (tested alone
// against the shared vectors); (2) the pages (gateway/portal_src/pages/*.js), code-split so each
// page loads only what it uses, importing (1) at run time as /static/… (the very files the vector
// tests check, not a second copy); (3) the stylesheet. The message catalogue
// (gateway/portal_src/messages.json) is checked (both languages for every key, the same
// placeholders in both) and written to static/messages.json for the gateway's page shells.
//
// Usage: node scripts/build-portal.mjs [--out DIR]

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Entry points: output name -> source (relative to the repository root). */
const ENTRIES = {
  "cityledger-verify": "gateway/portal_src/verify/index.js",
  "payload-crypto": "gateway/portal_src/payload-crypto.mjs",
};

/** The portal's pages: gateway/portal_src/pages/<name>.js -> static/pages/<name>.js. */
const PAGES = ["home", "trace", "verify", "credit", "console", "dashboard"];
const CATALOGUE = "gateway/portal_src/messages.json";
const STYLESHEET = "gateway/portal_src/portal.css";
/** Files copied as they are (source -> static/<name>). */
const COPIED = { "favicon.svg": "gateway/portal_src/favicon.svg" };
const LANGS = ["zh-CN", "en"];

/** Settings of the pages build on top of SETTINGS (recorded in the manifest). */
const PAGE_SETTINGS = {
  splitting: true,
  chunkNames: "chunk-[hash]",
  external: ["/static/cityledger-verify.js", "/static/payload-crypto.js"],
  loader: { ".json": "json" },
};

/** The contracts whose events the portal decodes (contracts/artifacts/<name>.json). */
const CONTRACTS = ["MemberRegistry", "SupplyCustody", "DataSharing", "Credit"];

/** Exact esbuild settings; recorded verbatim in the manifest. */
const SETTINGS = {
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  charset: "utf8",
  treeShaking: true,
};

function die(message) {
  console.error(`build-portal: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  let out = path.join(ROOT, "gateway", "portal", "static");
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--out" && i + 1 < argv.length) out = path.resolve(argv[++i]);
    else die(`unknown argument ${argv[i]}; usage: build-portal [--out DIR]`);
  }
  return { out };
}

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

function abiType(param) {
  if (param.type.startsWith("tuple")) return `(${param.components.map(abiType).join(",")})${param.type.slice(5)}`;
  return param.type;
}

/** Only what a verifier needs of an ABI parameter (drops internalType and the like). */
function slimParam(param) {
  const out = { name: param.name, type: param.type };
  if ("indexed" in param) out.indexed = param.indexed;
  if (param.components) out.components = param.components.map(slimParam);
  return out;
}

/** `import EVENT_ABIS from "cityledger:event-abis"`: the contracts' events, from the committed artifacts. */
function eventAbisPlugin(inputs) {
  return {
    name: "cityledger-event-abis",
    setup(build) {
      build.onResolve({ filter: /^cityledger:event-abis$/ }, () => ({ path: "event-abis", namespace: "cityledger" }));
      build.onLoad({ filter: /.*/, namespace: "cityledger" }, () => {
        const table = {};
        for (const name of CONTRACTS) {
          const file = `contracts/artifacts/${name}.json`;
          const bytes = readFileSync(path.join(ROOT, file));
          inputs[file] = sha256(bytes);
          const events = JSON.parse(bytes).abi.filter((item) => item.type === "event");
          table[name] = events.map((e) => ({
            name: e.name,
            signature: `${e.name}(${e.inputs.map(abiType).join(",")})`,
            inputs: e.inputs.map(slimParam),
          }));
        }
        return { contents: JSON.stringify(table), loader: "json" };
      });
    },
  };
}

/**
 * `import CONTRACTS from "cityledger:contracts"`: the state-changing functions of the contracts
 * (what a member signs) and their enums (from contracts/artifacts/manifest.json).
 */
function contractsPlugin(inputs) {
  return {
    name: "cityledger-contracts",
    setup(build) {
      build.onResolve({ filter: /^cityledger:contracts$/ }, () => ({ path: "contracts", namespace: "cityledger-contracts" }));
      build.onLoad({ filter: /.*/, namespace: "cityledger-contracts" }, () => {
        const abis = {};
        for (const name of CONTRACTS) {
          const file = `contracts/artifacts/${name}.json`;
          const bytes = readFileSync(path.join(ROOT, file));
          inputs[file] = sha256(bytes);
          abis[name] = JSON.parse(bytes).abi
            .filter((item) => item.type === "function" && item.stateMutability !== "view" && item.stateMutability !== "pure")
            .map((f) => ({ type: "function", name: f.name, stateMutability: f.stateMutability, inputs: f.inputs.map(slimParam), outputs: [] }));
        }
        const manifestFile = "contracts/artifacts/manifest.json";
        const manifest = readFileSync(path.join(ROOT, manifestFile));
        inputs[manifestFile] = sha256(manifest);
        return { contents: JSON.stringify({ abis, enums: JSON.parse(manifest).enums }), loader: "json" };
      });
    },
  };
}

/** The message catalogue, checked: both languages for every key, the same placeholders in both. */
function checkedCatalogue() {
  const text = readFileSync(path.join(ROOT, CATALOGUE), "utf8");
  const doc = JSON.parse(text);
  const problems = [];
  const placeholders = (s) => [...s.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]).sort().join(",");
  for (const [key, entry] of Object.entries(doc)) {
    for (const lang of LANGS) {
      if (typeof entry?.[lang] !== "string" || !entry[lang].trim()) problems.push(`${key}: no ${lang} text`);
    }
    const extra = Object.keys(entry ?? {}).filter((k) => !LANGS.includes(k));
    if (extra.length) problems.push(`${key}: unknown language(s) ${extra.join(", ")}`);
    if (LANGS.every((lang) => typeof entry?.[lang] === "string") && placeholders(entry[LANGS[0]]) !== placeholders(entry[LANGS[1]])) {
      problems.push(`${key}: placeholders differ between languages`);
    }
  }
  if (problems.length) die(`${CATALOGUE}:\n  ${problems.join("\n  ")}`);
  const sortedDoc = Object.fromEntries(Object.keys(doc).sort().map((k) => [k, { [LANGS[0]]: doc[k][LANGS[0]], [LANGS[1]]: doc[k][LANGS[1]] }]));
  return Buffer.from(JSON.stringify(sortedDoc, null, 1) + "\n", "utf8");
}

async function bundle(options, inputs) {
  const result = await esbuild.build({ ...options, absWorkingDir: ROOT, write: false, metafile: true, logLevel: "warning" });
  for (const input of Object.keys(result.metafile.inputs)) {
    if (input.startsWith("cityledger")) continue;
    inputs[input] = sha256(readFileSync(path.join(ROOT, input)));
  }
  return result.outputFiles;
}

async function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const inputs = {};
  const files = [
    ...await bundle({
      ...SETTINGS,
      entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, source]) => [name, source])),
      outdir: out,
      plugins: [eventAbisPlugin(inputs)],
    }, inputs),
    ...await bundle({
      ...SETTINGS,
      ...PAGE_SETTINGS,
      entryPoints: Object.fromEntries(PAGES.map((name) => [name, `gateway/portal_src/pages/${name}.js`])),
      outdir: path.join(out, "pages"),
      plugins: [contractsPlugin(inputs)],
    }, inputs),
    ...await bundle({ ...SETTINGS, bundle: true, format: undefined, entryPoints: { portal: STYLESHEET }, outdir: out, loader: { ".css": "css" } }, inputs),
  ];
  const catalogue = checkedCatalogue();
  inputs[CATALOGUE] = sha256(readFileSync(path.join(ROOT, CATALOGUE)));
  files.push({ path: path.join(out, "messages.json"), contents: catalogue });
  for (const [name, source] of Object.entries(COPIED)) {
    const bytes = readFileSync(path.join(ROOT, source));
    inputs[source] = sha256(bytes);
    files.push({ path: path.join(out, name), contents: bytes });
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const outputs = {};
  for (const file of files) {
    const name = path.relative(out, file.path).split(path.sep).join("/");
    mkdirSync(path.dirname(file.path), { recursive: true });
    writeFileSync(file.path, file.contents);
    outputs[name] = { bytes: file.contents.length, sha256: sha256(file.contents) };
  }
  const sorted = (object) => Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const manifest = {
    tool: { name: "esbuild", version: esbuild.version },
    settings: SETTINGS,
    pageSettings: PAGE_SETTINGS,
    entries: sorted({ ...ENTRIES, ...Object.fromEntries(PAGES.map((name) => [`pages/${name}`, `gateway/portal_src/pages/${name}.js`])), portal: STYLESHEET }),
    eventAbis: { contracts: CONTRACTS, from: "contracts/artifacts/<name>.json" },
    catalogue: { from: CATALOGUE, languages: LANGS },
    inputs: sorted(inputs),
    outputs: sorted(outputs),
  };
  writeFileSync(path.join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  for (const [name, { bytes }] of Object.entries(sorted(outputs))) {
    console.log(`build-portal: ${path.relative(ROOT, path.join(out, name))} ${bytes} bytes`);
  }
}

main().catch((error) => die(error.stack ?? String(error)));
