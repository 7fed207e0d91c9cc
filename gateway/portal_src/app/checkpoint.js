// Witnessed checkpoints (C2SP checkpoints signed by the sealer, cosigned by witnesses):
// GET /v1/checkpoints/latest and the `checkpoint` section of evidence bundles, checked here by the
// verifier's verifyCheckpoint (audit's `checkpoint`, `inclusion` and `cosignature` checks) with the
// sealer set derived from the pinned genesis and the witness keys the auditor pinned.

import * as v from "/static/cityledger-verify.js";
import { api, ApiError } from "./api.js";
import { h, num, raw, short } from "./dom.js";
import { tx } from "./i18n.js";
import { witnessKeys } from "./trust.js";
import { resultsList, settle } from "./verdict.js";

export async function latestCheckpoint() {
  try {
    return await api("/v1/checkpoints/latest");
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return null;
    throw error;
  }
}

/** The checkpoint part of a bundle's verification, as an element (marked by the contract when checked). */
export function bundleCheckpoint(bundle, trust) {
  const section = bundle?.checkpoint;
  const box = h("div", { class: "checkpoint" }, tx("checkpoint.title", {}, "h3"));
  if (!section) {
    box.append(tx("checkpoint.none-in-bundle", {}, "p"));
    return box;
  }
  box.append(h("p", {}, tx("checkpoint.size"), num(section.size)));
  box.dataset.checkpoint = "checked";
  let report;
  try {
    report = v.verifyCheckpoint(bundle, { ...trust, witnessKeys: witnessKeys() });
  } catch (error) {
    report = { ok: false, results: [{ check: "cosignature", subject: "witness keys", ok: false, detail: String(error.message ?? error) }] };
  }
  const first = report.results.find((r) => !r.ok) ?? report.results[0] ?? { check: "checkpoint", detail: "" };
  settle(box, { ok: report.ok, check: first.check, detail: first.detail });
  box.append(resultsList(report.results));
  return box;
}

/** A short health line for the latest checkpoint (dashboard and trace pages). */
export function checkpointHealth(checkpoint) {
  if (!checkpoint) return tx("checkpoint.none-yet", {}, "p", { "data-checkpoint": "none" });
  const cosigned = Array.isArray(checkpoint.cosignatures) ? checkpoint.cosignatures.length : 0;
  return h("p", { "data-checkpoint": "present" }, tx("checkpoint.size"), num(checkpoint.size ?? checkpoint.treeSize),
    tx("checkpoint.cosignatures"), num(cosigned),
    checkpoint.rootHash ? short(checkpoint.rootHash) : raw(""));
}
