// "/": a donor types, scans or photographs a receipt code; anyone looks up an enterprise's credit
// record; links to the verification portal, the dashboards and the member console.

import { app, clear, h } from "../app/dom.js";
import { href, tx } from "../app/i18n.js";
import { checkReceiptCode, checkUscc, codeForm } from "../app/codes.js";
import { codeFromScan, readQrFromFile, scanWithCamera } from "../app/qr.js";
import { run, start } from "../app/shell.js";
import { problemView } from "../app/api.js";

function goTrace(code) {
  location.assign(href(`/trace/${encodeURIComponent(code)}`));
}

function scanner(field) {
  const status = h("p", { class: "field-message", "aria-live": "polite" });
  const video = h("video", { class: "camera", muted: true, playsinline: true, hidden: true, "aria-hidden": "true" });
  let session = null;
  const useText = (text) => {
    if (!text) {
      clear(status).append(tx("scan.none"));
      return;
    }
    field.input.value = codeFromScan(text);
    const result = field.show();
    if (result.ok) goTrace(result.code);
    else clear(status).append(tx("scan.not-a-code"));
  };
  const cameraButton = h("button", { type: "button", class: "secondary" }, tx("scan.camera"));
  cameraButton.addEventListener("click", async () => {
    if (session) {
      session.stop();
      return;
    }
    if (!navigator.mediaDevices?.getUserMedia) {
      clear(status).append(tx("scan.no-camera"));
      return;
    }
    video.hidden = false;
    clear(status).append(tx("scan.looking"));
    clear(cameraButton).append(tx("scan.stop"));
    session = scanWithCamera(video);
    try {
      const text = await session.done;
      if (text !== null) useText(text);
      else clear(status);
    } catch (error) {
      clear(status).append(tx("scan.camera-error"), problemView(error));
    } finally {
      session = null;
      video.hidden = true;
      clear(cameraButton).append(tx("scan.camera"));
    }
  });
  const photoId = "qr-photo";
  const photo = h("input", { id: photoId, type: "file", accept: "image/*", class: "file" });
  photo.addEventListener("change", async () => {
    const file = photo.files?.[0];
    if (!file) return;
    clear(status).append(tx("scan.reading"));
    try {
      useText(await readQrFromFile(file));
    } catch (error) {
      clear(status).append(tx("scan.none"), problemView(error));
    }
  });
  return h("div", { class: "scanner" },
    h("div", { class: "row" }, cameraButton, h("label", { for: photoId, class: "button secondary" }, tx("scan.photo")), photo),
    video, status);
}

async function main() {
  await start();
  const root = app();
  const trace = codeForm({ labelKey: "home.trace.label", placeholderKey: "home.trace.placeholder", buttonKey: "home.trace.button",
    check: checkReceiptCode, onSubmit: goTrace, name: "receipt-code" });
  const credit = codeForm({ labelKey: "home.credit.label", placeholderKey: "home.credit.placeholder", buttonKey: "home.credit.button",
    check: checkUscc, onSubmit: (code) => location.assign(href(`/credit/${code}`)), name: "uscc" });
  root.append(
    h("section", { class: "card hero", "aria-labelledby": "trace-h" },
      tx("home.trace.title", {}, "h2", { id: "trace-h" }), tx("home.trace.intro", {}, "p"), trace.form, scanner(trace)),
    h("section", { class: "card", "aria-labelledby": "credit-h" },
      tx("home.credit.title", {}, "h2", { id: "credit-h" }), tx("home.credit.intro", {}, "p"), credit.form),
    h("section", { class: "card links", "aria-labelledby": "more-h" }, tx("home.more.title", {}, "h2", { id: "more-h" }),
      h("ul", {},
        h("li", {}, h("a", { href: href("/verify") }, tx("home.more.verify")), tx("home.more.verify.why", {}, "p")),
        h("li", {}, h("a", { href: href("/dashboard") }, tx("home.more.dashboard")), tx("home.more.dashboard.why", {}, "p")),
        h("li", {}, h("a", { href: href("/console") }, tx("home.more.console")), tx("home.more.console.why", {}, "p")))));
}

run(main);
