// Runs the shared bundle vectors (tests/vectors/bundles/) through the built verifier; shared by
// the Node.js runner (cases.mjs) and the browser test page (page.html), which differ only in how
// they load a JSON file. The trust forms are the ones tests/vectors/bundles/README.md describes.

export function trustOf(lib, spec, addressbook, genesis) {
  if (spec !== null && typeof spec === "object") return lib.normalizeTrust(spec);
  // In every named form the chain id comes from the address book, as tests/portal/portal_vectors.py does.
  if (spec === "none") return lib.normalizeTrust({ chainId: addressbook.chainId });
  const trust = lib.trustFrom({
    addressbook: spec === "both" || spec === "addressbook" ? addressbook : null,
    genesis: spec === "both" || spec === "genesis" ? genesis : null,
  });
  return { ...trust, chainId: addressbook.chainId };
}

/** {name: {ok, results}} for every vector in `names`; `load(relativePath)` returns parsed JSON. */
export async function runVectors(lib, names, load) {
  const addressbook = await load("addressbook.json");
  const genesis = await load("genesis.json");
  const out = {};
  for (const name of names) {
    const expected = await load(`${name}/expected.json`);
    const bundle = await load(`${name}/bundle.json`);
    const trust = trustOf(lib, expected.trust, addressbook, genesis);
    out[name] = lib.verifyBundle(bundle, trust);
  }
  return out;
}

/**
 * Verify every event record of a served trace (records/trace.json) with verifyRecordProof, the
 * sealer set derived from the valid trace bundle and the contracts' event ABIs at the pinned
 * addresses; then the same with one proof byte changed in flight. Returns plain verdicts.
 */
export async function runTraceRecords(lib, load) {
  const addressbook = await load("addressbook.json");
  const genesis = await load("genesis.json");
  const bundle = await load("valid-trace/bundle.json");
  const trace = await load("records/trace.json");
  const derived = lib.deriveSealerSet(bundle, lib.trustFrom({ addressbook, genesis }));
  const events = lib.eventTable(lib.EVENT_ABIS, addressbook.contracts);
  const options = { chainId: addressbook.chainId, sealerSet: derived.sealerSet, events };
  const verdict = (record, extra = {}) => {
    const r = lib.verifyRecordProof(record, { ...options, ...extra });
    return { ok: r.ok, check: r.results[0].check, event: r.log?.event ?? null, args: r.log?.args ?? null };
  };
  const plain = trace.events.map((record) => verdict(record, { expect: { event: record.kind } }));
  const flip = (hex) => hex.slice(0, -2) + (hex.slice(-2) === "00" ? "01" : "00");
  const tampered = JSON.parse(JSON.stringify(trace.events[1]));
  tampered.proof.receiptProof[tampered.proof.receiptProof.length - 1] = flip(tampered.proof.receiptProof.at(-1));
  const wrongKind = trace.events[0];
  return {
    derived: { ok: derived.ok, results: derived.results },
    records: plain,
    tampered: verdict(tampered),
    wrongKind: verdict(wrongKind, { expect: { event: "LotConsumed" } }),
    noSealers: verdict(trace.events[0], { sealerSet: null, sealers: [] }),
    onChainReceiptCode: trace.onChainReceiptCode,
    receiptCodeMatches: lib.receiptCodeMatches(trace.receiptCode, trace.onChainReceiptCode),
    shortCode: lib.shortReceiptCode(trace.onChainReceiptCode),
  };
}
