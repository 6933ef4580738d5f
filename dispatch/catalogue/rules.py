"""Pure catalogue rules: fees by state rule (matching names is `dispatch.matching`)."""

from __future__ import annotations

from dispatch.catalogue.models import ServiceCategory


def doorstep_fee(
    category: ServiceCategory, *, citizen_fee_paise: int, business_fee_paise: int
) -> int:
    """The state's fixed doorstep fee for a service category."""
    return business_fee_paise if category is ServiceCategory.BUSINESS else citizen_fee_paise
