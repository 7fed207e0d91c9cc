// The trust anchor: what this browser pinned to check every proof against, kept in localStorage.
//
// On first use the portal fetches this gateway's address book (/portal/addressbook.json: chain id,
// genesis block hash, contract addresses) and pins it ("trust on first use"); from then on a
// gateway that changes its story cannot change what the browser checks against. An auditor
// replaces it with files of their own: the address book (scripts/deploy), the genesis document
// (its sealer set), or pinned values ({"format": "cityledger-trust/1", chainId, genesisHash?,
// genesisSealers?}). Witness keys for checkpoints are kept beside it.

import * as v from "/static/cityledger-verify.js";
import { api } from "./api.js";

const KEY = "cityledger.trust.v1";
const WITNESS_KEY = "cityledger.witnesses.v1";
export const TRUST_FORMAT = "cityledger-trust/1";

export class TrustFileInvalid extends Error {
  constructor(name, reason) {
    super(`${name}: ${reason}`);
    this.name = "TrustFileInvalid";
    this.file = name;
    this.reason = reason;
  }
}

/** Only what verification needs of a genesis document (the full one carries contract code). */
function slimGenesis(genesis) {
  return {
    format: genesis.format, chainId: genesis.chainId,
    registry: { address: genesis.registry?.address, sealers: genesis.registry?.sealers ?? [] },
    contracts: (genesis.contracts ?? []).map((c) => ({ name: c.name, address: c.address })),
  };
}

function stored() {
  try {
    const doc = JSON.parse(localStorage.getItem(KEY) ?? "null");
    return doc && typeof doc === "object" ? doc : null;
  } catch {
    return null;
  }
}

function save(anchor) {
  localStorage.setItem(KEY, JSON.stringify(anchor));
  return anchor;
}

/** The pinned anchor; fetched from this gateway and pinned the first time. */
export async function loadAnchor() {
  const found = stored();
  if (found) return found;
  const book = await api("/portal/addressbook.json");
  if (book?.format !== "cityledger-addressbook/1") throw new TrustFileInvalid("addressbook.json", "not a CityLedger address book");
  // On a CometBFT chain the gateway's address book carries the genesis validator set: pinned with it.
  const cometbft = book.cometbft ? { chain_id: book.cometbft.chainId, validators: book.cometbft.validators, app_hash: String(book.cometbft.appHash ?? "").replace(/^0x/, "") } : null;
  return save({ source: "gateway", pinnedAt: Math.floor(Date.now() / 1000), addressbook: book, genesis: null, values: null, cometbft });
}

/** Classify and check one file an auditor gives. */
export function classify(name, doc) {
  if (!doc || typeof doc !== "object") throw new TrustFileInvalid(name, "not a JSON object");
  if (doc.format === "cityledger-addressbook/1") {
    if (!Number.isInteger(doc.chainId) || !doc.deployment?.blockHash) throw new TrustFileInvalid(name, "address book without chainId or deployment.blockHash");
    return ["addressbook", doc];
  }
  if (doc.format === "cityledger-genesis/1") {
    if (!Array.isArray(doc.registry?.sealers)) throw new TrustFileInvalid(name, "genesis document without registry.sealers");
    return ["genesis", slimGenesis(doc)];
  }
  if (doc.format === undefined && "chain_id" in doc && Array.isArray(doc.validators) && "app_hash" in doc) {
    v.trustFrom({ cometbftGenesis: doc }); // throws on a malformed validator
    return ["cometbft", { chain_id: doc.chain_id, validators: doc.validators, app_hash: doc.app_hash }];
  }
  if (doc.format === TRUST_FORMAT || (doc.format === undefined && "chainId" in doc)) {
    v.normalizeTrust(doc); // throws on malformed hex
    return ["values", { chainId: doc.chainId ?? null, genesisHash: doc.genesisHash ?? null, genesisSealers: doc.genesisSealers ?? null }];
  }
  throw new TrustFileInvalid(name, "neither an address book, a genesis document, a CometBFT genesis nor pinned trust values");
}

/** Replace the anchor with the given files ([{name, text}]); returns the new anchor. */
export function replaceAnchor(files) {
  const anchor = { source: "file", pinnedAt: Math.floor(Date.now() / 1000), addressbook: null, genesis: null, values: null, cometbft: null, files: [] };
  for (const { name, text } of files) {
    let doc;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new TrustFileInvalid(name, "not JSON");
    }
    const [kind, value] = classify(name, doc);
    anchor[kind] = value;
    anchor.files.push(name);
  }
  if (!anchor.addressbook && !anchor.genesis && !anchor.values && !anchor.cometbft) throw new TrustFileInvalid("", "no file given");
  return save(anchor);
}

export function resetAnchor() {
  localStorage.removeItem(KEY);
}

/** The verifier's trust ({chainId, genesisHash, genesisSealers}) from an anchor. */
export function trustOf(anchor) {
  const base = v.trustFrom({ addressbook: anchor.addressbook, genesis: anchor.genesis, cometbftGenesis: anchor.cometbft ?? null });
  if (!anchor.values) return base;
  const pinned = v.normalizeTrust(anchor.values);
  return {
    chainId: pinned.chainId ?? base.chainId,
    genesisHash: pinned.genesisHash ?? base.genesisHash,
    genesisSealers: pinned.genesisSealers ?? base.genesisSealers,
    cometbft: base.cometbft,
  };
}

/** Contract addresses ({Name: "0x…"}) the anchor pins (address book, else genesis), or null. */
export function contractsOf(anchor) {
  if (anchor.addressbook?.contracts) {
    return Object.fromEntries(Object.entries(anchor.addressbook.contracts).map(([n, c]) => [n, c.address]));
  }
  if (anchor.genesis?.registry?.address) {
    const out = { MemberRegistry: anchor.genesis.registry.address };
    for (const c of anchor.genesis.contracts ?? []) out[c.name] = c.address;
    return out;
  }
  return null;
}

/** Options for verifyRecordProof without the sealer set (added once derived). */
export function recordOptions(anchor) {
  const trust = trustOf(anchor);
  const contracts = contractsOf(anchor);
  return { chainId: trust.chainId, cometbft: trust.cometbft, events: contracts ? v.eventTable(v.EVENT_ABIS, contracts) : null };
}

export function witnessKeys() {
  try {
    const keys = JSON.parse(localStorage.getItem(WITNESS_KEY) ?? "[]");
    return Array.isArray(keys) ? keys.filter((k) => typeof k === "string") : [];
  } catch {
    return [];
  }
}

/** Pin witness keys (vkeys, one a line); throws TrustFileInvalid naming a malformed one. */
export function saveWitnessKeys(text) {
  const keys = text.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  for (const key of keys) {
    try {
      v.parseVkey(key);
    } catch (error) {
      throw new TrustFileInvalid(key.slice(0, 40), error.reason ?? error.message);
    }
  }
  localStorage.setItem(WITNESS_KEY, JSON.stringify(keys));
  return keys;
}
