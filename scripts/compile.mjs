#!/usr/bin/env node
// Compile every Solidity source under contracts/ with the pinned npm solc (solc-js) and write one
// artifact per deployable contract plus a manifest stamped with the compiler version, the exact
// settings and the sha256 of every source that went into the build (STYLE.md item 9).
//
// Usage: node scripts/compile.mjs [--out DIR]
//   --out DIR   write artifacts to DIR instead of contracts/artifacts (used by scripts/check-artifacts)
//
// Output is deterministic: source unit names are repository-relative ("contracts/X.sol",
// "@openzeppelin/contracts/..."), never absolute paths, and every JSON file is written with sorted
// keys, 2-space indent and a trailing newline.
//
// The manifest also lists the member names of every enum our sources define ("enums"), so Python
// reads them from here instead of keeping a copy that could drift from the Solidity.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const solc = require('solc');

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CONTRACTS_DIR = 'contracts';
const DEFAULT_OUT = path.join(ROOT, CONTRACTS_DIR, 'artifacts');
const NODE_MODULES = path.join(ROOT, 'node_modules');
const EIP170_LIMIT = 24576; // maximum runtime code size (EIP-170)

// Exact compiler settings; recorded verbatim in the manifest.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'prague',
  outputSelection: {
    '*': {
      '': ['ast'],
      '*': [
        'abi',
        'evm.bytecode.object',
        'evm.deployedBytecode.object',
        'metadata',
        'storageLayout',
      ],
    },
  },
};

function die(message) {
  process.stderr.write(`compile: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  let out = DEFAULT_OUT;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--out') {
      if (i + 1 >= argv.length) die('--out needs a directory');
      out = path.resolve(argv[++i]);
    } else if (arg.startsWith('--out=')) {
      out = path.resolve(arg.slice('--out='.length));
    } else if (arg === '-h' || arg === '--help') {
      process.stdout.write('usage: node scripts/compile.mjs [--out DIR]\n');
      process.exit(0);
    } else {
      die(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return { out };
}

/** Repository-relative .sol paths under contracts/, excluding contracts/artifacts/, sorted. */
function findSources() {
  const found = [];
  const walk = (rel) => {
    const entries = fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true });
    for (const entry of entries) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        if (child === `${CONTRACTS_DIR}/artifacts`) continue;
        walk(child);
      } else if (entry.isFile() && entry.name.endsWith('.sol')) {
        found.push(child);
      }
    }
  };
  walk(CONTRACTS_DIR);
  return found.sort();
}

/** Map a source unit name to a file on disk; only our contracts/ and npm packages are reachable. */
function resolveUnit(unitName) {
  if (unitName.includes('..') || path.isAbsolute(unitName)) return null;
  if (unitName.startsWith('@')) return path.join(NODE_MODULES, unitName);
  if (unitName.startsWith(`${CONTRACTS_DIR}/`)) return path.join(ROOT, unitName);
  return null;
}

// Bytes of every source unit the compiler read, keyed by unit name (for the manifest hashes).
const sourceBytes = new Map();

function readUnit(unitName) {
  const file = resolveUnit(unitName);
  if (file === null) return null;
  let bytes;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return null;
  }
  sourceBytes.set(unitName, bytes);
  return bytes.toString('utf8');
}

function findImports(unitName) {
  const contents = readUnit(unitName);
  if (contents === null) return { error: `cannot resolve import ${JSON.stringify(unitName)}` };
  return { contents };
}

/** JSON with keys sorted at every level, 2-space indent, trailing newline. */
function stableJson(value) {
  const sort = (v) => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') {
      const out = {};
      for (const key of Object.keys(v).sort()) out[key] = sort(v[key]);
      return out;
    }
    return v;
  };
  return `${JSON.stringify(sort(value), null, 2)}\n`;
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Every enum defined in one of our source units, by qualified name ("Contract.Enum", or "Enum" at
 * file level), with its member names in declaration order: member i has the numeric value i in the
 * ABI. Python code (node/genesis.py, the contract drivers) reads these lists from the manifest
 * rather than copying them, so an enum is written once, in Solidity.
 */
function enumsOf(ast) {
  const out = {};
  const record = (node, prefix) => {
    if (node.nodeType === 'EnumDefinition') out[prefix + node.name] = node.members.map((m) => m.name);
  };
  for (const node of ast?.nodes ?? []) {
    record(node, '');
    if (node.nodeType === 'ContractDefinition') {
      for (const inner of node.nodes ?? []) record(inner, `${node.name}.`);
    }
  }
  return out;
}

/** Names of concrete (non-abstract) contracts defined in a source unit's AST. */
function concreteContracts(ast) {
  const names = new Set();
  for (const node of ast?.nodes ?? []) {
    if (node.nodeType === 'ContractDefinition' && node.contractKind === 'contract' && !node.abstract) {
      names.add(node.name);
    }
  }
  return names;
}

function main() {
  const { out } = parseArgs(process.argv.slice(2));
  const ours = findSources();
  if (ours.length === 0) die(`no .sol files under ${CONTRACTS_DIR}/`);

  const sources = {};
  for (const unit of ours) {
    const contents = readUnit(unit);
    if (contents === null) die(`cannot read ${unit}`);
    sources[unit] = { content: contents };
  }

  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

  let failed = false;
  for (const err of output.errors ?? []) {
    const text = (err.formattedMessage ?? err.message).trimEnd();
    // formattedMessage already starts with the kind ("ParserError: ...", "Warning: ...").
    if (err.severity === 'error') failed = true;
    process.stderr.write(`${text}\n\n`);
  }
  if (failed) die('compilation failed');

  const artifacts = new Map();
  const contractsIndex = {};
  const enums = {};
  for (const unit of ours) {
    for (const [name, members] of Object.entries(enumsOf(output.sources?.[unit]?.ast))) {
      if (name in enums) die(`enum ${name} is defined twice`);
      enums[name] = members;
    }
    const concrete = concreteContracts(output.sources?.[unit]?.ast);
    const compiled = output.contracts?.[unit] ?? {};
    for (const name of Object.keys(compiled).sort()) {
      const c = compiled[name];
      const bytecode = c.evm?.bytecode?.object ?? '';
      if (!concrete.has(name) || bytecode === '') continue;
      if (artifacts.has(name)) {
        die(`contract name ${name} is defined in both ${contractsIndex[name]} and ${unit}`);
      }
      if (/__\$[0-9a-f]{34}\$__/.test(bytecode)) {
        die(`${unit}:${name} needs linking to an external library; not supported`);
      }
      const runtimeSize = c.evm.deployedBytecode.object.length / 2;
      if (runtimeSize > EIP170_LIMIT) {
        die(`${unit}:${name} runtime is ${runtimeSize} bytes, over the EIP-170 limit of ${EIP170_LIMIT}`);
      }
      contractsIndex[name] = unit;
      artifacts.set(name, {
        contractName: name,
        sourceName: unit,
        abi: c.abi,
        bytecode: `0x${bytecode}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
        metadata: c.metadata,
        storageLayout: c.storageLayout,
      });
    }
  }
  if (artifacts.size === 0) die('no deployable contracts found');

  // Hash exactly the sources the compiler used (ours plus every imported library file).
  const usedSources = {};
  for (const unit of Object.keys(output.sources ?? {}).sort()) {
    const bytes = sourceBytes.get(unit);
    if (bytes === undefined) die(`compiler used ${unit}, which was not read from disk`);
    usedSources[unit] = sha256(bytes);
  }

  const manifest = {
    compiler: { name: 'solc-js', version: solc.version() },
    settings: SETTINGS,
    sources: usedSources,
    contracts: contractsIndex,
    enums,
  };

  fs.mkdirSync(out, { recursive: true });
  const written = new Set(['manifest.json']);
  for (const [name, artifact] of artifacts) {
    fs.writeFileSync(path.join(out, `${name}.json`), stableJson(artifact));
    written.add(`${name}.json`);
  }
  fs.writeFileSync(path.join(out, 'manifest.json'), stableJson(manifest));
  // Drop artifacts of contracts that no longer exist so the directory mirrors the sources.
  for (const entry of fs.readdirSync(out)) {
    if (entry.endsWith('.json') && !written.has(entry)) fs.unlinkSync(path.join(out, entry));
  }

  for (const [name, artifact] of artifacts) {
    const runtime = (artifact.deployedBytecode.length - 2) / 2;
    const initcode = (artifact.bytecode.length - 2) / 2;
    process.stdout.write(`${name.padEnd(24)} ${artifact.sourceName.padEnd(40)} runtime ${runtime} B, initcode ${initcode} B\n`);
  }
  process.stdout.write(`wrote ${artifacts.size} artifact(s) and manifest.json to ${path.relative(process.cwd(), out) || '.'}\n`);
}

main();
