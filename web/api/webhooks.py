"""GET /api/v1/webhook-secret: the secret that signs the caller's webhook
deliveries, for verifying them. Only ever the caller's own."""

from typing import Any

from db import contract
from db.accounts import ensure_owner
from db.webhooks import SIGNATURE_HEADER
from web.api import api
from web.api.operations import Answer, operation
from web.context import current_owner, db_session


@api.get("/webhook-secret")
@operation(
    "The secret that signs the caller's webhook deliveries",
    {200: Answer("the secret and how deliveries are signed with it", contract.WebhookSecret)},
)
def webhook_secret() -> dict[str, Any]:
    session = db_session()
    secret = ensure_owner(session, current_owner()).webhook_secret
    session.commit()
    return contract.WebhookSecret(
        secret=secret,
        header=SIGNATURE_HEADER,
        format="t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + raw body)>",
    ).model_dump(mode="json")
