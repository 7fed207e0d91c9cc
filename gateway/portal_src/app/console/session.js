// The member's session in this tab: the signing key (decrypted from a keystore file, or a browser
// wallet), the bearer token from Sign-In with Ethereum, and the member as the registry says.
// The key lives in this module's memory only: never stored, never sent. Every write is a
// transaction signed here and relayed by the gateway (POST /v1/tx), and its answer's proofs are
// checked here before the result is shown as verified.

import * as v from "/static/cityledger-verify.js";
import CONTRACTS from "cityledger:contracts";
import { Interface, Wallet, getBytes, hexlify, toUtf8Bytes } from "ethers";
import { api, ApiError, problemView } from "../api.js";
import { h, raw, short } from "../dom.js";
import { tx } from "../i18n.js";
import { contractsOf, recordOptions, trustOf } from "../trust.js";
import { checking, checkRecord, failed, settle } from "../verdict.js";

export const TOKEN_KEY = "cityledger.session.v1";
export const GAS_LIMIT = 8_000_000n;

export const session = { signer: null, address: null, token: null, member: null, identity: null, anchor: null, chainId: null };

const interfaces = Object.fromEntries(Object.entries(CONTRACTS.abis).map(([name, abi]) => [name, new Interface(abi)]));
export const ENUMS = CONTRACTS.enums;

export class SignInRefused extends Error {
  constructor(reason) {
    super(reason);
    this.name = "SignInRefused";
    this.reason = reason;
  }
}

/** A signer from an encrypted keystore (ethers decrypts it here; `onProgress` gets 0..1). */
export async function keystoreSigner(json, password, onProgress) {
  const wallet = await Wallet.fromEncryptedJson(json, password, onProgress);
  return {
    kind: "keystore", address: wallet.address,
    signMessage: (text) => wallet.signMessage(text),
    signTypedData: (domain, types, message) => wallet.signTypedData(domain, types, message),
    signTransaction: (tx) => wallet.signTransaction(tx),
  };
}

/** A signer backed by an injected browser wallet (EIP-1193 window.ethereum). */
export async function browserWalletSigner() {
  const provider = window.ethereum;
  if (!provider) throw new SignInRefused("no-wallet");
  const [address] = await provider.request({ method: "eth_requestAccounts" });
  const hexText = (text) => hexlify(toUtf8Bytes(text));
  return {
    kind: "wallet", address,
    signMessage: (text) => provider.request({ method: "personal_sign", params: [hexText(text), address] }),
    signTypedData: (domain, types, message) => provider.request({ method: "eth_signTypedData_v4",
      params: [address, JSON.stringify({ domain, types: { EIP712Domain: domainFields(domain), ...types }, primaryType: Object.keys(types)[0], message },
        (_k, value) => (typeof value === "bigint" ? value.toString() : value))] }),
    signTransaction: (tx) => provider.request({ method: "eth_signTransaction", params: [{ ...tx, from: address,
      gas: "0x" + tx.gasLimit.toString(16), nonce: "0x" + tx.nonce.toString(16), chainId: "0x" + tx.chainId.toString(16),
      value: "0x0", maxFeePerGas: "0x0", maxPriorityFeePerGas: "0x0", type: "0x2" }] }),
  };
}

function domainFields(domain) {
  const all = [["name", "string"], ["version", "string"], ["chainId", "uint256"], ["verifyingContract", "address"]];
  return all.filter(([name]) => name in domain).map(([name, type]) => ({ name, type }));
}

/** EIP-4361 sign-in: the message is checked to name this site before the key signs it. */
export async function signIn(signer, anchor) {
  const { message } = await api("/v1/auth/challenge", { method: "POST", body: { address: signer.address } });
  const domain = message.split("\n", 1)[0].split(" ", 1)[0];
  if (domain !== location.host) throw new SignInRefused("domain");
  const chainLine = message.split("\n").find((line) => line.startsWith("Chain ID: "));
  const chainId = trustOf(anchor).chainId;
  if (!chainLine || Number(chainLine.slice(10)) !== chainId) throw new SignInRefused("chain");
  const signature = await signer.signMessage(message);
  const answer = await api("/v1/auth/token", { method: "POST", body: { message, signature } });
  Object.assign(session, { signer, address: signer.address, token: answer.token, member: answer.member, anchor, chainId });
  sessionStorage.setItem(TOKEN_KEY, answer.token);
  return answer.member;
}

export function signOut() {
  Object.assign(session, { signer: null, address: null, token: null, member: null, identity: null });
  sessionStorage.removeItem(TOKEN_KEY);
}

export const get = (path) => api(path, { token: session.token });
export const post = (path, body) => api(path, { method: "POST", body, token: session.token });

export function contractAddress(name) {
  const address = contractsOf(session.anchor)?.[name];
  if (!address) throw new SignInRefused("no-contracts");
  return address;
}

export function encode(contract, fn, args) {
  return interfaces[contract].encodeFunctionData(fn, args);
}

export function decodeCall(contract, data) {
  return interfaces[contract].parseTransaction({ data });
}

/** Sign `contract.fn(args)` with the member's key (EIP-1559, zero fees: the chain pins them). */
export async function signCall(contract, fn, args, nonce = null) {
  if (nonce === null) nonce = (await get(`/v1/accounts/${session.address}/nonce`)).nonce;
  return session.signer.signTransaction({ type: 2, chainId: session.chainId, nonce, to: contractAddress(contract),
    data: encode(contract, fn, args), value: 0n, gasLimit: GAS_LIMIT, maxFeePerGas: 0n, maxPriorityFeePerGas: 0n });
}

/** The sealer set for records up to the block of `evidence`'s bundle (derived from the pinned trust). */
const derivedSets = new Map();
export async function sealerSet(evidence) {
  if (!derivedSets.has(evidence)) {
    derivedSets.set(evidence, api(evidence).then((bundle) => v.deriveSealerSet(bundle, trustOf(session.anchor ?? {}))));
  }
  return derivedSets.get(evidence);
}

/** Check served records (each with proof and evidence), deriving the sealer set from the newest one's bundle. */
export async function checkRecords(records, expectOf = () => ({})) {
  if (!records.length) return [];
  const options = recordOptions(session.anchor);
  if (!options.events) return records.map(() => failed("log-content", "the trust anchor pins no contract addresses"));
  const newest = records.reduce((a, b) => ((b.proof?.blockNumber ?? 0) > (a.proof?.blockNumber ?? 0) ? b : a));
  const derived = await sealerSet(newest.evidence);
  const bad = derived.results.find((r) => !r.ok);
  return records.map((record) => (bad ? failed(bad.check, bad.detail)
    : checkRecord(record, { ...options, sealerSet: derived.sealerSet, poa: derived.poa, expect: expectOf(record) })));
}

/** The verdict over several records: the first failure, else passed (block of the last). */
export function overall(verdicts) {
  return verdicts.find((x) => !x.ok) ?? { ok: true, blockNumber: verdicts.at(-1)?.blockNumber ?? null };
}

/**
 * Send a signed call through the gateway and show its result in `out`: the events with their
 * proofs checked here (data-verified), or the problem (a contract error by name).
 */
export async function send(out, contract, fn, args, { label } = {}) {
  const card = h("div", { class: "tx-result", "data-call": `${contract}.${fn}` }, h("p", { class: "badge" }));
  out.prepend(card);
  checking(card);
  try {
    const raw_ = await signCall(contract, fn, args);
    const answer = await post("/v1/tx", { transaction: raw_ });
    return await showAnswer(card, answer, label);
  } catch (error) {
    card.removeAttribute("aria-busy");
    card.querySelector(".badge").remove();
    card.dataset.error = error instanceof ApiError ? error.slug : "client";
    card.append(problemView(error));
    throw error;
  }
}

/** Verify a /v1/tx (or access) answer's events in the browser and fill `card`. */
/**
 * A console action's form: a heading (`titleTag`), the `fields`, a submit button. Submitting runs
 * `onSubmit(out)` with the button disabled; a failure not already shown in `out` is shown there
 * as the gateway's (or the chain's) problem.
 */
export function actionForm(titleTag, titleKey, titleParams, fields, submitKey, out, onSubmit) {
  const form = h("form", { class: "panel-form" }, tx(titleKey, titleParams, titleTag), ...fields,
    h("div", { class: "row" }, h("button", { type: "submit" }, tx(submitKey))));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await onSubmit(out);
    } catch (error) {
      if (!out.querySelector("[data-error]")) out.prepend(problemView(error));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export async function showAnswer(card, answer, label) {
  const verdicts = await checkRecords(answer.events, (e) => ({ event: e.event }));
  const verdict = answer.events.length ? overall(verdicts) : failed("log-content", "the transaction emitted no event");
  settle(card, verdict);
  card.append(h("p", {}, label ?? tx("console.tx.done"), short(answer.txHash)),
    h("ul", { class: "plain events" }, answer.events.map((e, i) => h("li", { "data-event": e.event, "data-verified": verdicts[i]?.ok ? "true" : "false" },
      raw(`${e.contract}.${e.event}`, { tag: "code" })))));
  card.verdicts = verdicts;
  card.answer = answer;
  return { answer, verdicts, ok: verdict.ok };
}

/** A fixed-size UTF-8 text as bytes32 (item codes, units). */
export function bytes32(text) {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > 32) throw new RangeError("longer than 32 bytes");
  const out = new Uint8Array(32);
  out.set(bytes);
  return hexlify(out);
}

export const toHexBytes = (bytes) => hexlify(bytes);
export const fromHex = (hex) => getBytes(hex);
export const randomHex = (n = 32) => hexlify(crypto.getRandomValues(new Uint8Array(n)));
export const keccakHex = (bytes) => v.toHex(v.keccak256(bytes));
export async function sha256Hex(bytes) {
  return "0x" + Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}
