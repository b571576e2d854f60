"""What ingest does to a rule's webhook actions before the event is written (docs/automations.md):

- the URL's host must not be an internal address (:mod:`domain.webhook_targets`; INVALID_ARGUMENT
  ``webhook_internal_target`` naming the action's ``url``);
- the signing secret is sealed (:mod:`servicekit.secret_box`, bound to the rule's team and name)
  and the plain ``secret`` cleared, so the Kafka log, the ClickHouse archive and every view hold
  only the sealed form. Without ``CAIRN_AUTOMATIONS_SECRET_KEY`` a rule with a secret is refused
  (FAILED_PRECONDITION ``secret_key_configured``) rather than stored in the clear; a client-sent
  ``sealed_secret`` must open for this rule (``sealed_secret``), so one cannot be copied from
  another rule.
"""

from __future__ import annotations

from cairn_contract.errors import FailedPreconditionError, ValidationError
from cairn_contract.v1 import events_pb2
from domain.automations import secret_bound_to
from domain.webhook_targets import TargetPolicy
from servicekit.secret_box import ENV, SealError, SecretBox

RULE_DEFINITIONS = ("rule_created", "rule_changed")


def prepare_webhooks(
    batch: events_pb2.EventBatch, box: SecretBox | None, policy: TargetPolicy
) -> None:
    """Check every webhook target and seal every secret in ``batch`` (in place)."""
    for i, event in enumerate(batch.events):
        kind = event.WhichOneof("payload")
        if kind not in RULE_DEFINITIONS:
            continue
        env = event.envelope
        definition = getattr(event, kind).definition
        for j, action in enumerate(definition.actions):
            if action.WhichOneof("target") != "webhook":
                continue
            path = f"events[{i}].{kind}.definition.actions[{j}].webhook"
            hook = action.webhook
            policy.check_url(hook.url, f"{path}.url")
            where = secret_bound_to(env.team, env.aggregate_id)
            if hook.secret:
                if box is None:
                    raise FailedPreconditionError(
                        f"{path}.secret: webhook secrets are stored sealed and this server has "
                        f"no {ENV} (rule secret_key_configured)",
                        field=f"{path}.secret",
                        rule="secret_key_configured",
                    )
                hook.sealed_secret = box.seal(hook.secret, where)
                hook.secret = ""
            elif hook.sealed_secret:
                try:
                    if box is None:
                        raise SealError("no key")
                    box.open(hook.sealed_secret, where)
                except SealError as exc:
                    raise ValidationError(
                        f"{path}.sealed_secret: does not belong to rule {env.aggregate_id!r} "
                        "(rule sealed_secret)",
                        field=f"{path}.sealed_secret",
                        rule="sealed_secret",
                    ) from exc
