"""CRM jobs as timer actions: written with the message or action that calls for them, run by
``omniline.crm.service.CrmService`` (timer kind ``crm``), retried while the CRM is down."""

from __future__ import annotations

from datetime import datetime

from omniline.engine.ports import TimerAction
from omniline.model import Dialog

CRM_TIMER = "crm"


def sync_job(client_id: int, line_id: str, dialog_id: int, due: datetime) -> TimerAction:
    """Make sure the CRM knows the client (run once the message that calls for it is stored)."""
    return TimerAction(
        kind=CRM_TIMER,
        key=f"sync:{client_id}",
        due_at=due,
        data={"job": "sync", "client": client_id, "line": line_id, "dialog": dialog_id},
    )


def transcript_job(dialog: Dialog, due: datetime) -> TimerAction:
    return TimerAction(
        kind=CRM_TIMER,
        key=f"transcript:{dialog.id}:{dialog.hops}",
        due_at=due,
        data={"job": "transcript", "dialog": dialog.id, "client": dialog.client_id},
    )


def responsible_job(dialog: Dialog, operator_id: str, due: datetime) -> TimerAction:
    return TimerAction(
        kind=CRM_TIMER,
        key=f"responsible:{dialog.id}:{dialog.hops}",
        due_at=due,
        data={
            "job": "responsible",
            "dialog": dialog.id,
            "client": dialog.client_id,
            "operator": operator_id,
        },
    )
