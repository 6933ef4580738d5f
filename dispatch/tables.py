"""Imports every table module so that `SQLModel.metadata` is complete (Alembic, tests)."""

from __future__ import annotations

from sqlmodel import SQLModel

from dispatch.agents import models as agents_models
from dispatch.alerts import models as alerts_models
from dispatch.audit import models as audit_models
from dispatch.calls import models as calls_models
from dispatch.catalogue import models as catalogue_models
from dispatch.channels import models as channels_models
from dispatch.citizens import models as citizens_models
from dispatch.fieldwork import models as fieldwork_models
from dispatch.geography import models as geography_models
from dispatch.grievances import models as grievances_models
from dispatch.ledger import models as ledger_models
from dispatch.notifications import models as notifications_models
from dispatch.planning import models as planning_models
from dispatch.requests import models as requests_models
from dispatch.staff import models as staff_models
from dispatch.states import models as states_models
from dispatch.taskruns import models as taskruns_models
from dispatch.visits import models as visits_models

MODULES = (
    states_models,
    catalogue_models,
    geography_models,
    citizens_models,
    agents_models,
    requests_models,
    ledger_models,
    audit_models,
    notifications_models,
    planning_models,
    calls_models,
    visits_models,
    fieldwork_models,
    staff_models,
    grievances_models,
    channels_models,
    alerts_models,
    taskruns_models,
)

metadata = SQLModel.metadata
