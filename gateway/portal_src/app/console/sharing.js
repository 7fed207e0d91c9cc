// Department data officers: requests to and from their department, each request's proof and
// history checked here; approve (narrowing fields, validity, cap) or reject; deliver a payload
// encrypted here to the requester's registered X25519 key (age), uploaded, and recorded on chain;
// fetch a payload delivered to them: the access and a refusal are signed here with the same nonce
// (the gateway relays exactly one), the ciphertext is downloaded once, checked against the proven
// delivery (SHA-256 of the ciphertext, keccak-256 of the plaintext) and decrypted here.

import * as crypto_ from "/static/payload-crypto.js";
import { api, problemView } from "../api.js";
import { clear, h, num, raw, readBytes, readText, short, uid, when } from "../dom.js";
import { t, tx, keyOr } from "../i18n.js";
import { checking, failed, settle } from "../verdict.js";
import { ENUMS, actionForm, checkRecords, contractAddress, get, keccakHex, overall, post, randomHex, send, session, sha256Hex, showAnswer, signCall } from "./session.js";

const CLASSIFICATIONS = ENUMS["DataSharing.Classification"];

function field(labelKey, input, helpKey = null) {
  input.id ||= uid("in");
  return h("div", { class: "field" }, h("label", { for: input.id }, tx(labelKey)), input, helpKey ? tx(helpKey, {}, "p", { class: "help" }) : null);
}

const dateInput = (seconds, name) => {
  const el = h("input", { type: "date", name, required: true });
  if (seconds && Number(seconds) < 253402300799) el.value = new Date(Number(seconds) * 1000).toISOString().slice(0, 10);
  return el;
};
const seconds = (dateValue) => BigInt(Math.floor(Date.parse(`${dateValue}T23:59:59Z`) / 1000));

/** Results of actions, outside the lists that are redrawn after each action. */
let activity = null;

function form(titleKey, params, fields, submitKey, onSubmit) {
  const el = actionForm("h5", titleKey, params, fields, submitKey, activity, onSubmit);
  return h("div", { class: "action-panel" }, el);
}

function requestCard(r, direction, refresh) {
  const mine = direction === "outgoing";
  const el = h("li", { class: "request", id: `request-${r.id}`, "data-request": r.id, "data-status": r.status },
    h("header", {}, h("p", { class: "badge" }),
      h("h4", {}, tx("console.request.title", { id: r.id }), tx(keyOr(`status.${r.status}`, "status.other"), {}, "span", { class: `status status-${r.status}` }))),
    h("dl", { class: "facts" },
      h("div", {}, tx("console.request.requester", {}, "dt"), h("dd", {}, raw(r.requester.name))),
      h("div", {}, tx("console.request.dataset", {}, "dt"), h("dd", {}, raw(`#${r.datasetId}`))),
      h("div", {}, tx("console.request.purpose", {}, "dt"), h("dd", {}, raw(r.purpose))),
      h("div", {}, tx("console.request.legal-basis", {}, "dt"), h("dd", {}, raw(r.legalBasis))),
      h("div", {}, tx("console.request.fields", {}, "dt"), h("dd", {}, raw((r.fields.length ? r.fields : r.requestedFields).join(", ")))),
      h("div", {}, tx("console.request.valid-until", {}, "dt"), h("dd", {}, when(r.validUntil, { dateOnly: true }))),
      h("div", {}, tx("console.request.accesses", {}, "dt"), h("dd", {}, num(r.accessCount), raw(" / "), num(r.maxAccesses))),
      r.decisionReason ? h("div", {}, tx("console.request.reason", {}, "dt"), h("dd", {}, raw(r.decisionReason))) : null,
      r.delivery ? h("div", {}, tx("console.request.delivered", {}, "dt"), h("dd", {}, short(r.delivery.cid, { keep: 14 }))) : null),
    h("div", { class: "actions" }));
  const actions = el.querySelector(".actions");
  if (!mine && r.status === "Pending") actions.append(approveForm(r, refresh), rejectForm(r, refresh));
  if (!mine && r.status === "AwaitingSupervisor" && r.supervisor?.id === session.member.id) {
    actions.append(form("console.supervise.title", { id: r.id }, [], "console.supervise.submit", async (out) => { await send(out, "DataSharing", "supervisorApprove", [r.id]); await refresh(); }));
  }
  if (!mine && r.status === "Granted" && !r.delivery) actions.append(deliverForm(r, refresh));
  if (mine && r.status === "Granted" && r.delivery) actions.append(fetchForm(r, refresh));
  return el;
}

function approveForm(r, refresh) {
  const boxes = r.requestedFields.map((name) => {
    const box = h("input", { type: "checkbox", name: "field", value: name, checked: true, id: uid("fld") });
    return { box, el: h("div", { class: "check-row" }, box, h("label", { for: box.id }, raw(name))) };
  });
  const until = dateInput(r.validUntil, "valid-until");
  const cap = h("input", { type: "number", min: 1, max: r.maxAccesses, value: r.maxAccesses, name: "max-accesses", required: true });
  const fieldset = h("fieldset", {}, tx("console.approve.fields", {}, "legend"), boxes.map((b) => b.el));
  return form("console.approve.title", { id: r.id }, [fieldset, field("console.approve.valid-until", until), field("console.approve.cap", cap, "console.approve.narrow")],
    "console.approve.submit", async (out) => {
      const fields = boxes.filter((b) => b.box.checked).map((b) => b.box.value);
      // The date field shows days; the end of the chosen day may lie past the requested time,
      // and a grant may only shorten the validity (DataSharingValidityExtended), so cap it.
      const chosen = seconds(until.value);
      const validUntil = chosen > BigInt(r.validUntil) ? BigInt(r.validUntil) : chosen;
      await send(out, "DataSharing", "approve", [r.id, fields, validUntil, BigInt(cap.value)]);
      await refresh();
    });
}

function rejectForm(r, refresh) {
  const reason = h("input", { type: "text", name: "reject-reason", required: true });
  return form("console.reject.title", { id: r.id }, [field("console.reject.reason", reason)], "console.reject.submit", async (out) => {
    await send(out, "DataSharing", "reject", [r.id, reason.value.trim()]);
    await refresh();
  });
}

function deliverForm(r, refresh) {
  const file = h("input", { type: "file", name: "payload", required: true, class: "file-visible" });
  return form("console.deliver.title", { id: r.id }, [field("console.deliver.file", file, "console.deliver.help")], "console.deliver.submit", async (out) => {
    const chosen = file.files?.[0];
    if (!chosen) throw new Error("no file");
    const requester = await get(`/v1/members/${r.requester.id}`);
    if (!requester.encryptionKey) throw new Error("the requester has no registered encryption key");
    const recipient = crypto_.recipientFromPublicKey(requester.encryptionKey);
    const step = h("div", { class: "steps" }, h("p", {}, tx("console.deliver.encrypting"), raw(recipient, { tag: "code", cls: "recipient" })));
    out.prepend(step);
    const plaintext = await readBytes(chosen);
    const ciphertext = await crypto_.encryptBytes(plaintext, requester.encryptionKey);
    step.append(tx("console.deliver.uploading", {}, "p"));
    const stored = await api("/v1/payloads", { method: "POST", body: ciphertext, token: session.token, headers: { "Content-Type": "application/octet-stream" } });
    const sha = await sha256Hex(ciphertext);
    if (sha !== stored.sha256) throw new Error("the gateway stored other bytes than were sent");
    await send(out, "DataSharing", "deliver", [r.id, stored.cid, stored.sha256, keccakHex(plaintext)]);
    await refresh();
  });
}

function fetchForm(r, refresh) {
  const reason = h("input", { type: "text", name: "access-reason", required: true });
  return form("console.fetch.title", { id: r.id }, [field("console.fetch.reason", reason, "console.fetch.help")], "console.fetch.submit", async (out) => {
    if (!session.identity) {
      out.prepend(tx("console.fetch.need-key", {}, "p", { class: "problem", role: "alert" }));
      return;
    }
    // The delivery, as proven on chain (not as the gateway says): ciphertext hash and commitment.
    const history = r.history.filter((e) => e.event === "PayloadDelivered");
    const proven = await checkRecords(history, () => ({ event: "PayloadDelivered" }));
    const delivered = proven.find((x) => x.ok)?.log?.args;
    const result = h("div", { class: "fetch-result", "data-grant": r.id }, h("p", { class: "badge" }));
    out.prepend(result);
    checking(result);
    if (!delivered) {
      settle(result, proven[0] ?? failed("log-content", "no proven delivery"));
      return;
    }
    const { nonce } = await get(`/v1/accounts/${session.address}/nonce`);
    const access = await signCall("DataSharing", "recordAccess", [r.id, reason.value.trim()], nonce);
    const refusal = await signCall("DataSharing", "recordRefusal", [r.id, reason.value.trim()], nonce);
    let answer;
    try {
      answer = await post(`/v1/grants/${r.id}/access`, { access, refusal });
    } catch (error) {
      result.removeAttribute("aria-busy");
      result.querySelector(".badge").remove();
      result.dataset.error = error.slug ?? "client";
      result.append(problemView(error));
      await refresh();
      return;
    }
    const accessCard = h("div", { class: "tx-result" }, h("p", { class: "badge" }));
    result.append(accessCard);
    await showAnswer(accessCard, answer, tx("console.fetch.recorded"));
    const { bytes } = await api(answer.payload.download, { token: session.token, as: "bytes" });
    const sha = await sha256Hex(bytes);
    let plaintext = null;
    let verdict;
    if (sha !== String(delivered.ciphertextHash).toLowerCase()) {
      verdict = failed("payload", "the downloaded ciphertext is not the one the proven delivery names");
    } else {
      try {
        plaintext = await crypto_.decryptBytes(bytes, session.identity);
        verdict = keccakHex(plaintext) === String(delivered.plaintextCommitment).toLowerCase()
          ? overall([...(accessCard.verdicts ?? []), proven.find((x) => x.ok)])
          : failed("payload", "the decrypted file does not match the proven plaintext commitment");
      } catch (error) {
        verdict = failed("payload", String(error.message ?? error));
      }
    }
    settle(result, verdict);
    if (plaintext && verdict.ok) {
      const url = URL.createObjectURL(new Blob([plaintext], { type: "application/octet-stream" }));
      const preview = new TextDecoder("utf-8", { fatal: false }).decode(plaintext.slice(0, 2048));
      result.append(tx("console.fetch.decrypted", { bytes: plaintext.length }, "p"),
        raw(preview, { tag: "pre", cls: "preview" }),
        h("a", { href: url, download: `grant-${r.id}.bin`, class: "button" }, tx("console.fetch.save")));
    }
    await refresh();
  });
}

function requestForm(datasets, refresh) {
  const dataset = h("select", { name: "dataset", required: true }, datasets.map((d) => h("option", { value: d.id }, raw(`#${d.id} ${d.title} — ${d.owner.name}`))));
  const purpose = h("input", { type: "text", name: "purpose", required: true });
  const basis = h("input", { type: "text", name: "legal-basis", required: true });
  const fields = h("input", { type: "text", name: "fields", required: true, placeholder: t("console.new-request.fields.placeholder") });
  const subjects = h("textarea", { name: "subjects", rows: 3 });
  const until = dateInput(Math.floor(Date.now() / 1000) + 30 * 86400, "valid-until");
  const cap = h("input", { type: "number", min: 1, value: 1, name: "max-accesses", required: true });
  return form("console.new-request.title", {}, [field("console.new-request.dataset", dataset), field("console.new-request.purpose", purpose),
    field("console.new-request.legal-basis", basis), field("console.new-request.fields", fields), field("console.new-request.subjects", subjects, "console.new-request.subjects.help"),
    field("console.approve.valid-until", until), field("console.approve.cap", cap)], "console.new-request.submit", async (out) => {
    const salt = randomHex(16);
    const request = {
      datasetId: BigInt(dataset.value), requester: session.address, purpose: purpose.value.trim(), legalBasis: basis.value.trim(),
      fields: fields.value.split(",").map((f) => f.trim()).filter(Boolean),
      subjectCommitment: keccakHex(new TextEncoder().encode(`${salt}|${subjects.value.trim()}`)),
      validFrom: 0n, validUntil: seconds(until.value), maxAccesses: BigInt(cap.value), nonce: BigInt(randomHex(8)),
    };
    const domain = { name: "CityLedger DataSharing", version: "1", chainId: session.chainId, verifyingContract: contractAddress("DataSharing") };
    const types = { ShareRequest: [["datasetId", "uint256"], ["requester", "address"], ["purpose", "string"], ["legalBasis", "string"],
      ["fields", "string[]"], ["subjectCommitment", "bytes32"], ["validFrom", "uint64"], ["validUntil", "uint64"], ["maxAccesses", "uint32"],
      ["nonce", "uint256"]].map(([name, type]) => ({ name, type })) };
    const signature = await session.signer.signTypedData(domain, types, request);
    await send(out, "DataSharing", "submitRequest", [request, signature]);
    out.prepend(h("p", {}, tx("console.new-request.salt"), raw(salt, { tag: "code" })));
    await refresh();
  });
}

function datasetForm(refresh) {
  const title = h("input", { type: "text", name: "title", required: true });
  const classification = h("select", { name: "classification" }, CLASSIFICATIONS.map((c, i) => h("option", { value: i }, tx(keyOr(`classification.${c}`, "status.other")))));
  const schema = h("input", { type: "text", name: "schema", placeholder: t("console.documents.placeholder") });
  return form("console.dataset.title", {}, [field("console.dataset.name", title), field("console.dataset.classification", classification), field("console.dataset.schema", schema)],
    "console.dataset.submit", async (out) => {
      await send(out, "DataSharing", "registerDataset", [title.value.trim(), BigInt(classification.value), schema.value.trim()]);
      await refresh();
    });
}

function keyLoader() {
  const id = uid("age");
  const input = h("input", { id, type: "file", class: "file-visible", "data-role": "age-key" });
  const status = h("p", { class: "field-message", "aria-live": "polite" });
  input.addEventListener("change", async () => {
    const file = input.files?.[0];
    if (!file) return;
    try {
      const identity = crypto_.identityFromKeyFile(await readText(file));
      const recipient = await crypto_.recipientOfIdentity(identity);
      const me = await get(`/v1/members/${session.member.id}`);
      const registered = me.encryptionKey ? crypto_.recipientFromPublicKey(me.encryptionKey) : null;
      session.identity = identity;
      clear(status).append(tx(registered === recipient ? "console.key.loaded" : "console.key.mismatch"), raw(recipient, { tag: "code", cls: "recipient" }));
      status.dataset.state = registered === recipient ? "ok" : "error";
    } catch (error) {
      clear(status).append(tx("console.key.invalid"), raw(error.message, { lang: "en", cls: "detail" }));
      status.dataset.state = "error";
    }
    input.value = "";
  });
  return h("div", { class: "key-loader" }, tx("console.key.title", {}, "h3"), tx("console.key.help", {}, "p", { class: "help" }),
    h("label", { for: id }, tx("console.key.choose")), input, status);
}

export async function sharingSection(container) {
  const section = h("section", { class: "card", id: "sharing", "aria-labelledby": "sharing-h" }, tx("console.sharing.title", {}, "h2", { id: "sharing-h" }));
  container.append(section);
  const lists = h("div", {});
  const extras = h("div", {});
  activity = h("div", { class: "results activity", id: "sharing-activity", "aria-live": "polite" });
  section.append(keyLoader(), tx("console.activity", {}, "h3"), activity, lists, extras);
  const refresh = async () => {
    const [incoming, outgoing, datasets] = await Promise.all([get("/v1/requests?direction=incoming"), get("/v1/requests?direction=outgoing"), get("/v1/datasets")]);
    const inList = h("ol", { class: "requests", "data-direction": "incoming" }, incoming.items.map((r) => requestCard(r, "incoming", refresh)));
    const outList = h("ol", { class: "requests", "data-direction": "outgoing" }, outgoing.items.map((r) => requestCard(r, "outgoing", refresh)));
    clear(lists).append(tx("console.requests.incoming", {}, "h3"), incoming.items.length ? inList : tx("console.requests.none", {}, "p"),
      tx("console.requests.outgoing", {}, "h3"), outgoing.items.length ? outList : tx("console.requests.none", {}, "p"));
    clear(extras).append(requestForm(datasets.items.filter((d) => d.owner.id !== session.member.id), refresh), datasetForm(refresh));
    const cards = [...inList.children, ...outList.children];
    const all = [...incoming.items, ...outgoing.items];
    cards.forEach(checking);
    // Each request: its submission and every later event of its history, all proven here.
    for (const [i, r] of all.entries()) {
      const verdicts = await checkRecords([r, ...r.history], (rec) => (rec === r ? { event: "RequestSubmitted", args: { requestId: r.id } } : { event: rec.event }));
      settle(cards[i], overall(verdicts));
    }
    section.dataset.loaded = String(Number(section.dataset.loaded ?? 0) + 1);
  };
  await refresh();
}
