// The browser test page's script (served under a strict Content-Security-Policy: no inline script,
// nothing from another origin): imports the *built* verifier, runs every vector, the trace records
// and a dropped-file payload check, and writes the verdicts as JSON into #out.

import * as lib from "/static/cityledger-verify.js";
import { runTraceRecords, runVectors } from "/vector_runner.mjs";

const load = async (relative) => {
  const answer = await fetch(`/vectors/${relative}`);
  if (!answer.ok) throw new Error(`${relative}: HTTP ${answer.status}`);
  return answer.json();
};

/** The test's deterministic payload bytes (tests/portal/test_verify_browser.py makes the same). */
function payloadBytes(size) {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + (i >>> 10)) & 0xff;
  return bytes;
}

async function main() {
  const setup = await (await fetch("/setup.json")).json();
  const vectors = await runVectors(lib, setup.names, load);
  const records = await runTraceRecords(lib, load);
  const payloads = [];
  for (const item of setup.payloads) {
    const file = new File([payloadBytes(item.size)], "dropped.bin");
    const check = await lib.verifyPayload(file, { cid: item.cid, sha256: item.sha256 });
    const tampered = payloadBytes(item.size);
    if (item.size) tampered[item.size - 1] ^= 1;
    const bad = await lib.verifyPayload(new File([tampered], "tampered.bin"), { cid: item.cid, sha256: item.sha256 });
    payloads.push({ size: item.size, ok: check.ok, computed: check.computed, tamperedOk: bad.ok, tamperedCheck: bad.check });
  }
  return { vectors, records, payloads };
}

const out = document.getElementById("out");
main().then(
  (result) => {
    out.textContent = JSON.stringify(result, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
    document.body.dataset.done = "ok";
  },
  (error) => {
    out.textContent = String(error?.stack ?? error);
    document.body.dataset.done = "error";
  },
);
