// Bundle the portal's browser modules with the pinned esbuild into gateway/portal/static/
// (STYLE.md item 9): minified ES modules, no source maps, byte-identical on every run, and a
// manifest stamped with esbuild's version, the exact settings and the SHA-256 of every input
// (our sources, the npm modules that went in, the contract artifacts the event ABIs come from)
// and of every output. The gateway serves these files as they are; running the product needs no
// Node.js. scripts/check-portal rebuilds into a temporary directory and fails on any difference.
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

async function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const inputs = {};
  const result = await esbuild.build({
    ...SETTINGS,
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, source]) => [name, source])),
    outdir: out,
    write: false,
    metafile: true,
    logLevel: "warning",
    plugins: [eventAbisPlugin(inputs)],
  });
  for (const input of Object.keys(result.metafile.inputs)) {
    if (input.startsWith("cityledger:")) continue;
    inputs[input] = sha256(readFileSync(path.join(ROOT, input)));
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const outputs = {};
  for (const file of result.outputFiles) {
    const name = path.relative(out, file.path);
    writeFileSync(file.path, file.contents);
    outputs[name] = { bytes: file.contents.length, sha256: sha256(file.contents) };
  }
  const sorted = (object) => Object.fromEntries(Object.entries(object).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  const manifest = {
    tool: { name: "esbuild", version: esbuild.version },
    settings: SETTINGS,
    entries: sorted(ENTRIES),
    eventAbis: { contracts: CONTRACTS, from: "contracts/artifacts/<name>.json" },
    inputs: sorted(inputs),
    outputs: sorted(outputs),
  };
  writeFileSync(path.join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  for (const [name, { bytes }] of Object.entries(sorted(outputs))) {
    console.log(`build-portal: ${path.relative(ROOT, path.join(out, name))} ${bytes} bytes`);
  }
}

main().catch((error) => die(error.stack ?? String(error)));
