"""The indexer follows a real node through every record kind and keeps the custody equation."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from conftest import DevNet, NodeProcess
from gateway import db
from gateway.records.credit import CreditEntry, IssuerAuthorization
from gateway.records.custody import CustodyEvent, Lot, Transfer, conserved
from gateway.records.members import Member, MemberAccount, Proposal, RoleSet
from gateway.records.sharing import Access, Dataset, ShareRequest
from gateway_flows import credit_flow, custody_flow, share_flow
from gateway_harness import gateway_client, gateway_settings, run, wait_indexed


def test_indexer_builds_every_record_kind(chain: NodeProcess, addressbook: Path, tmp_path: Path, devnet: DevNet) -> None:
    shared = share_flow(chain, devnet, addressbook)
    lots = custody_flow(chain, devnet, addressbook)
    credit = credit_flow(chain, devnet, addressbook)
    settings = gateway_settings(chain, addressbook, tmp_path)

    async def scenario() -> None:
        async with gateway_client(settings) as (app, _client):
            await wait_indexed(app, int(chain.rpc("eth_blockNumber"), 16))
            engine = app.state.services.engine
            with db.session(engine) as s:
                members = s.exec(select(Member)).all()
                assert len(members) == len(devnet.keys["members"]) + len(devnet.keys["admins"])
                sealer = s.get(MemberAccount, devnet.keys["sealer"]["address"].lower())
                assert sealer is not None and sealer.member_id == 1
                assert {r.role for r in s.exec(select(RoleSet)).all()} == {"admins", "sealers"}
                assert s.exec(select(Proposal)).one().executed
                assert s.get(IssuerAuthorization, (devnet.keys["members"][6]["id"], "Penalty")).authorized  # type: ignore[union-attr]

                dataset = s.get(Dataset, shared["dataset"])
                assert dataset is not None and dataset.classification == "Sensitive"
                request = s.get(ShareRequest, shared["request"])
                assert request is not None and request.status == "Granted" and request.access_count == 2
                assert json.loads(request.fields) == ["name", "train", "date"] and request.max_accesses == 2
                assert json.loads(request.request)["purpose"] == "Close-contact tracing"
                assert request.delivered_cid == "bafkpayload"
                accesses = s.exec(select(Access).where(Access.grant_id == shared["request"])).all()
                assert [a.reason for a in accesses] == ["Tracing cluster 7", "Tracing cluster 8"]

                root = s.get(Lot, lots["lot"])
                child = s.get(Lot, lots["child"])
                grandchild = s.get(Lot, lots["grandchild"])
                assert root is not None and child is not None and grandchild is not None
                assert (root.original, root.held, root.child_originals) == (1000, 400, 600)
                # The refused 300 stay a lot of their own, held by the warehouse (a split is never undone).
                assert (child.original, child.held, child.losses, child.child_originals) == (600, 90, 10, 500)
                assert (grandchild.held, grandchild.consumed) == (50, 150)
                assert all(conserved(lot) for lot in (root, child, grandchild))
                assert {lot.root_lot_id for lot in (root, child, grandchild)} == {root.id}
                assert grandchild.receipt_code == root.receipt_code
                statuses = sorted(t.status for t in s.exec(select(Transfer)).all())
                assert statuses == ["Accepted", "Accepted", "Refused"]
                names = [e.name for e in s.exec(select(CustodyEvent).order_by(CustodyEvent.block_number,  # type: ignore[arg-type]
                                                                              CustodyEvent.block_log_index))]
                assert names == ["LotRegistered", "LotSplit", "TransferSent", "TransferAccepted", "LotSplit",
                                 "TransferSent", "TransferRefused", "LotSplit", "TransferSent", "TransferAccepted",
                                 "LotConsumed"]

                entry = s.get(CreditEntry, credit["entry"])
                correction = s.get(CreditEntry, credit["correction"])
                assert entry is not None and correction is not None
                assert entry.uscc == "91350100M000100Y43" and entry.replaced_by == correction.id
                assert correction.action == "Supersede" and correction.amount == str(20_000_00)
                assert correction.reason == "Amount reduced on review"

    run(scenario())
