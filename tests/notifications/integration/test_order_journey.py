"""A customer's order journey through the real orders context, heard by notifications:
shipped and delivered news, a return the vendor is asked to decide, the decision with the
refund amount, and the refund itself, each to the right person in their language."""

from __future__ import annotations

import httpx

from factories.checkout import checkout_body, key, make_shop
from factories.identity import auth_headers, create_user
from factories.notifications import SmtpServer
from marketplace.bootstrap import Container
from marketplace.notifications.channels import NotificationRuntime


async def test_ship_deliver_return_and_refund_messages(
    client: httpx.AsyncClient,
    container: Container,
    smtp: SmtpServer,
    runtime: NotificationRuntime,
) -> None:
    owner = await create_user(container, email="seller@example.com", locale="de")
    shop = await make_shop(container, price=2000, shipping=0, owner=owner, title="Lamp")
    customer = await create_user(container, email="buyer@example.com", locale="fr")
    buyer, seller = auth_headers(container, customer), auth_headers(container, owner)
    placed = await client.post("/v1/orders", json=checkout_body((shop, 1)), headers=buyer | key())
    assert placed.status_code == 201, placed.text
    order = placed.json()
    [vendor_order] = order["vendor_orders"]
    base = f"/v1/vendors/{shop.vendor.id}/orders/{vendor_order['id']}"

    shipped = await client.post(
        f"{base}/ship",
        json={"carrier": "dhl", "tracking_number": "JJD0123456789012345678"},
        headers=seller,
    )
    assert shipped.status_code == 200, shipped.text
    delivered = await client.post(f"{base}/deliver", headers=seller)
    assert delivered.status_code == 200, delivered.text
    requested = await client.post(
        f"/v1/orders/{order['id']}/returns",
        json={
            "items": [{"order_item_id": vendor_order["items"][0]["id"], "quantity": 1}],
            "reason": "damaged",
            "description": "broken on arrival",
        },
        headers=buyer,
    )
    assert requested.status_code == 201, requested.text
    return_id = requested.json()["id"]
    approved = await client.post(
        f"/v1/vendors/{shop.vendor.id}/returns/{return_id}/approve", json={}, headers=seller
    )
    assert approved.status_code == 200, approved.text
    await container.jobs.drain()

    customer_subjects = [m.message["Subject"] for m in smtp.inbox.to("buyer@example.com")]
    assert sorted(customer_subjects) == sorted(
        [
            f"Votre commande {order['id']} est confirmée",
            f"Le reçu de votre commande {order['id']}",
            f"Votre commande {order['id']} a été expédiée",
            f"Votre commande {order['id']} a été livrée",
            f"Votre retour pour la commande {order['id']} a été accepté",
            f"Remboursement de 20,00\xa0€ pour la commande {order['id']}",
        ]
    )
    decided = next(
        m for m in smtp.inbox.to("buyer@example.com") if "retour" in m.message["Subject"]
    )
    assert "20,00\xa0€ seront remboursés." in decided.text
    seller_subjects = [m.message["Subject"] for m in smtp.inbox.to("seller@example.com")]
    assert f"Rücksendung für Bestellung {vendor_order['id']} beantragt" in seller_subjects
    assert sum("Neue Bestellung" in s for s in seller_subjects) == 1
