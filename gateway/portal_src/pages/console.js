// "/console": the member console. Sign-In with Ethereum with a key that stays in this tab (an
// encrypted keystore file decrypted here, or a browser wallet), then the work of the member's kind:
// data officers (departments) share data, clerks move goods, regulators issue credit entries,
// administrators approve proposals, auditors verify.

import { problemView } from "../app/api.js";
import { custodySection } from "../app/console/custody.js";
import { creditSection } from "../app/console/credit.js";
import { governanceSection } from "../app/console/governance.js";
import { browserWalletSigner, keystoreSigner, session, signIn, signOut, SignInRefused } from "../app/console/session.js";
import { sharingSection } from "../app/console/sharing.js";
import { app, clear, h, raw, readText, short, uid } from "../app/dom.js";
import { href, keyOr, t, tx } from "../app/i18n.js";
import { run, start } from "../app/shell.js";

let anchor = null;

function signInForm(onSignedIn) {
  const fileId = uid("keystore");
  const passId = uid("password");
  const file = h("input", { id: fileId, type: "file", accept: ".json,application/json", required: true, class: "file-visible", "data-role": "keystore" });
  const password = h("input", { id: passId, type: "password", autocomplete: "current-password", required: true, name: "password" });
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": t("console.signin.decrypting") });
  const status = h("div", { class: "field-message", "aria-live": "polite", id: "signin-status" });
  const form = h("form", { class: "panel-form", id: "signin-form" },
    h("div", { class: "field" }, h("label", { for: fileId }, tx("console.signin.keystore")), file),
    h("div", { class: "field" }, h("label", { for: passId }, tx("console.signin.password")), password),
    h("button", { type: "submit" }, tx("console.signin.submit")), progress, status);
  const finish = async (signer) => {
    clear(status).append(tx("console.signin.signing"));
    const member = await signIn(signer, anchor);
    onSignedIn(member);
  };
  const fail = (error) => {
    progress.hidden = true;
    const key = error instanceof SignInRefused ? `console.signin.refused.${error.reason}` : /password|invalid/i.test(String(error?.message)) && !error.status ? "console.signin.bad-password" : null;
    clear(status).append(key ? tx(keyOr(key, "console.signin.failed"), {}, "p", { class: "problem", role: "alert" }) : problemView(error));
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    progress.hidden = false;
    clear(status).append(tx("console.signin.decrypting"));
    try {
      const signer = await keystoreSigner(await readText(chosen), password.value, (p) => { progress.value = p; });
      password.value = "";
      progress.hidden = true;
      await finish(signer);
    } catch (error) {
      fail(error);
    }
  });
  const box = h("section", { class: "card", id: "signin", "aria-labelledby": "signin-h" },
    tx("console.signin.title", {}, "h2", { id: "signin-h" }), tx("console.signin.intro", {}, "p"), form);
  if (window.ethereum) {
    const wallet = h("button", { type: "button", class: "secondary" }, tx("console.signin.wallet"));
    wallet.addEventListener("click", async () => {
      try {
        await finish(await browserWalletSigner());
      } catch (error) {
        fail(error);
      }
    });
    box.append(tx("console.signin.or", {}, "p"), wallet);
  }
  return box;
}

function identityCard(member, onSignOut) {
  const out = h("button", { type: "button", class: "secondary", id: "signout" }, tx("console.signout"));
  out.addEventListener("click", onSignOut);
  return h("section", { class: "card identity", id: "identity", "data-member": member.id, "data-kind": member.kind },
    h("h2", {}, raw(member.name)),
    h("p", {}, tx(keyOr(`kind.${member.kind}`, "kind.other")), tx(keyOr(`level.${member.level}`, "kind.other"), {}, "span", { class: "sub" })),
    h("p", {}, tx("console.account"), short(member.account, { keep: 12 })),
    h("p", {}, tx("console.roles"), raw(member.roles.join(", "))),
    tx("console.key-stays", {}, "p", { class: "note" }), out);
}

async function work(member) {
  const root = app();
  clear(root);
  root.append(identityCard(member, () => {
    signOut();
    location.reload();
  }));
  const area = h("div", { id: "work" });
  root.append(area);
  const kind = member.kind;
  try {
    if (kind === "Department") await sharingSection(area);
    if (["Charity", "Warehouse", "Logistics", "Hospital"].includes(kind)) await custodySection(area);
    if (kind === "Regulator") await creditSection(area);
    if (kind === "Admin" || member.roles.includes("admin")) await governanceSection(area);
    if (kind === "Auditor") {
      area.append(h("section", { class: "card", id: "auditor" }, tx("console.auditor.title", {}, "h2"), tx("console.auditor.intro", {}, "p"),
        h("ul", {}, h("li", {}, h("a", { href: href("/verify") }, tx("nav.verify"))), h("li", {}, h("a", { href: href("/dashboard") }, tx("nav.dashboard"))))));
    }
  } catch (error) {
    area.append(problemView(error));
  }
  area.append(h("p", {}, h("a", { href: href("/dashboard") }, tx("console.dashboard-link"))));
  document.body.dataset.signedIn = member.kind;
}

async function main() {
  anchor = await start();
  app().append(signInForm((member) => work(member)));
}

run(main);
