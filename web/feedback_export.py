"""The feedback page's tables as CSV rows (`/feedback/export/<table>.csv`): the same rows and
columns as the page, with every district, service and agent (the page's charts draw the most
rated only). Averages with two decimals, shares in whole percent, times in local time.

Not here: the route (`web.feedback`), the file's encoding (`web.export`).
"""

from __future__ import annotations

from typing import Any

from dispatch.grievances import ratings, rules
from dispatch.grievances import service as grievances
from web.requests import LocalTime

TABLES = ("weeks", "services", "agents", "districts", "distribution", "recent", "grievances")


def _group_rows(groups: list[ratings.Group]) -> list[list[object]]:
    return [
        [
            g.name,
            g.tally.count,
            "" if g.tally.average is None else round(g.tally.average, 2),
            *g.tally.by_star,
            "" if g.tally.poor_share is None else round(g.tally.poor_share * 100),
            g.open_grievances,
        ]
        for g in groups
    ]


GROUP_HEADER = [
    "ratings",
    "average",
    "1",
    "2",
    "3",
    "4",
    "5",
    "share of 1-2 (%)",
    "open grievances",
]


def rows(
    table: str, report: ratings.Report, local: LocalTime, grievance_page: grievances.Page | None
) -> tuple[list[str], list[list[object]]]:
    """The header and rows of export `table` (one of `TABLES`)."""
    if table == "services":
        return ["service", *GROUP_HEADER], _group_rows(report.by_service)
    if table == "agents":
        return ["agent", *GROUP_HEADER], _group_rows(report.by_agent)
    if table == "districts":
        return ["district", *GROUP_HEADER], _group_rows(report.by_district)
    if table == "distribution":
        count = report.overall.count
        return ["rating", "ratings", "share (%)"], [
            [star, n, round(n * 100 / count) if count else ""]
            for star, n in zip(rules.STARS, report.overall.by_star, strict=True)
        ]
    if table == "weeks":
        out: list[list[object]] = []
        by: list[tuple[str, list[ratings.Group], dict[Any, list[rules.Tally]]]] = [
            ("district", report.by_district, dict(report.district_weekly)),
            ("service", report.by_service, dict(report.service_weekly)),
            ("agent", report.by_agent, dict(report.agent_weekly)),
        ]
        for n, monday in enumerate(report.weeks):
            every = report.weekly[n]
            out.append([monday.isoformat(), "all", "", every.count, _rounded(every.average)])
            for kind, groups, weekly in by:
                for group in sorted(groups, key=lambda g: g.name):
                    tally = weekly[group.id][n] if group.id in weekly else rules.Tally()
                    if tally.count:
                        row = [monday.isoformat(), kind, group.name, tally.count]
                        out.append([*row, _rounded(tally.average)])
        return ["week starting", "by", "name", "ratings", "average"], out
    if table == "recent":
        return [
            "rated at",
            "reference",
            "service",
            "agent",
            "district",
            "rating",
            "comment",
            "channel",
        ], [
            [
                local.when(r.rated.answered_at),
                r.rated.reference,
                r.service_name,
                r.agent_name,
                r.district_name,
                r.rated.rating,
                r.rated.comment,
                r.rated.channel,
            ]
            for r in report.recent
        ]
    assert grievance_page is not None
    return [
        "grievance",
        "status",
        "opened at",
        "open for",
        "overdue",
        "reference",
        "service",
        "district",
        "agent",
        "rating",
        "comment",
    ], [
        [
            row.id,
            row.status.value,
            local.when(row.opened_at),
            row.age,
            row.overdue,
            row.reference,
            row.service_name,
            row.district_name,
            row.agent_name or "",
            row.rating,
            row.comment,
        ]
        for row in grievance_page.rows
    ]


def _rounded(value: float | None) -> object:
    return "" if value is None else round(value, 2)
