// Consortium administrators: governance proposals of every governed contract (members,
// data sharing, credit), with their approvals; approving is a transaction signed here.

import { clear, h, num, raw, short } from "../dom.js";
import { keyOr, tx } from "../i18n.js";
import { ENUMS, get, send, session } from "./session.js";
import { problemView } from "../api.js";

export async function governanceSection(container) {
  const out = h("div", { class: "results activity", id: "governance-activity", "aria-live": "polite" });
  const list = h("div", {});
  const section = h("section", { class: "card", id: "governance", "aria-labelledby": "gov-h" }, tx("console.governance.title", {}, "h2", { id: "gov-h" }), list, out);
  container.append(section);
  const refresh = async () => {
    const { items } = await get("/v1/proposals?pending=true");
    if (!items.length) {
      clear(list).append(tx("console.governance.none", {}, "p"));
      return;
    }
    clear(list).append(h("ul", { class: "plain proposals" }, items.map((p) => {
      const actions = ENUMS[`${p.contract}.Action`] ?? [];
      const actionName = actions[p.action] ?? String(p.action);
      const approved = p.approvers.map((a) => String(a).toLowerCase()).includes(session.address.toLowerCase());
      const button = h("button", { type: "button", disabled: approved }, tx(approved ? "console.governance.approved" : "console.governance.approve"));
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          await send(out, p.contract, "approveProposal", [p.id]);
        } catch (error) {
          if (!out.querySelector("[data-error]")) out.prepend(problemView(error));
        }
        await refresh();
      });
      return h("li", { class: "proposal", "data-proposal": `${p.contract}-${p.id}` },
        h("h3", {}, raw(`${p.contract} #${p.id}`), tx(keyOr(`action.${p.contract}.${actionName}`, "action.other"), {}, "span", { class: "sub" }), raw(actionName, { tag: "code" })),
        h("p", {}, tx("console.governance.approvals"), num(p.approvals), raw(" / "), num(p.threshold)),
        h("p", {}, tx("console.governance.proposer"), short(p.proposer.account, { keep: 12 })),
        h("p", {}, tx("console.governance.payload"), short(p.payload, { keep: 18 })), button);
    })));
  };
  await refresh();
}
