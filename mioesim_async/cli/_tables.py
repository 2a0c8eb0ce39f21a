"""
What people read: the portfolio report and the tables of the read commands.

Everything here returns rich renderables and prints nothing. Tables have no
box lines and no meaning carried by colour alone, so the text stays readable
when rich writes to a file or a pipe without colour.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .._models import Order, Sku, SkuPackages
from ._output import short_date
from ._report import PortfolioReport, failure_reason

__all__ = ["history_table", "packages_table", "report_view", "skus_table"]


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"


def _status_table(report: PortfolioReport) -> Table:
    """Every ICCID in one row: a status, failed or missing."""
    table = Table("Cards by status", box=None, header_style="bold")
    table.add_column("cards", justify="right")
    table.add_column("share", justify="right")
    total = report.total
    for status, count in report.by_status.items():
        table.add_row(status.name, f"{count:,}", _share(count, total))
    table.add_row("failed", f"{report.failed:,}", _share(report.failed, total))
    table.add_row("missing", f"{report.missing:,}", _share(report.missing, total))
    table.add_row("total", f"{total:,}", _share(total, total), style="bold")
    return table


def _alerts_table(report: PortfolioReport) -> Table:
    """The cards that deserve attention."""
    limits = report.thresholds
    table = Table("Needs attention", box=None, header_style="bold")
    table.add_column("cards", justify="right")
    rows = (
        ("Plans expired", report.expired),
        (f"Plans ending in the next {limits.expiring_days:g} days", report.expiring),
        ("Above 90% of their data (plans not ended)", report.nearly_used_up),
        (f"Under {limits.low_data_mb:g} MB left (plans not ended)", report.low_data),
    )
    for label, count in rows:
        table.add_row(label, f"{count:,}")
    return table


def _failures_view(report: PortfolioReport) -> RenderableType:
    """Failures grouped by reason, most frequent first."""
    if not report.failures and not report.missing:
        return Text("Failures and missing: none")
    table = Table("Failures and missing", box=None, header_style="bold")
    table.add_column("ICCIDs", justify="right")
    for reason, count in report.failures.items():
        table.add_row(reason, f"{count:,}")
    if report.missing:
        table.add_row("missing: no record in the answer", f"{report.missing:,}")
    return table


def _timing(report: PortfolioReport) -> Text:
    """Elapsed time and throughput, when timed."""
    if report.elapsed is None:
        return Text("")
    rate = report.throughput
    per_second = f", {rate:,.0f} ICCIDs per second" if rate else ""
    return Text(f"Polled in {report.elapsed:.2f} s{per_second}")


def report_view(report: PortfolioReport) -> RenderableType:
    """The whole portfolio report."""
    heading = f"Portfolio report: {report.total:,} cards"
    if report.duplicates:
        heading += f" (repeated ICCIDs asked once: {report.duplicates:,})"
    parts: list[RenderableType] = [
        Text(heading, style="bold"),
        Text(f"as of {report.thresholds.now:%Y-%m-%d %H:%M %Z}"),
        Text(""),
        _status_table(report),
        Text(""),
        _alerts_table(report),
        Text(""),
        _failures_view(report),
        _timing(report),
    ]
    if report.stopped_by is not None:
        parts.append(Text(f"Stopped early: {failure_reason(report.stopped_by)}"))
    return Group(*parts)


def skus_table(skus: Iterable[Sku]) -> Table:
    """The catalogue's SKUs."""
    table = Table("SKU", "name", "country code", "continent", box=None)
    for sku in skus:
        table.add_row(
            str(sku.sku_id),
            sku.display or "",
            sku.country_code or "",
            sku.continent_code or "",
        )
    return table


def packages_table(sku: SkuPackages) -> Table:
    """The packages on sale for one SKU."""
    countries = ", ".join(sku.support_countries)
    title = f"SKU {sku.sku_id} {sku.display_en or sku.display or ''}: {countries}"
    table = Table(
        "price id", "data", "days", "price", "renewable", "day pass", "api code",
        "networks", title=title, title_justify="left", box=None,
    )  # fmt: skip
    for package in sku.packages:
        networks = sorted({n.operator for n in package.networks if n.operator})
        table.add_row(
            str(package.price_id),
            f"{package.flows or ''} {package.unit or ''}".strip(),
            "" if package.days is None else str(package.days),
            "" if package.price is None else str(package.price),
            "yes" if package.renewable else "no",
            "yes" if package.support_daypass else "no",
            package.api_code or "",
            ", ".join(networks),
        )
    return table


def history_table(iccid: str, orders: Iterable[Order]) -> Table:
    """Every plan a card has had, oldest first as the API lists them."""
    table = Table(
        "order", "purchased", "plan", "price", "status", "renewal", "start", "end",
        title=f"History of {iccid}", title_justify="left", box=None,
    )  # fmt: skip
    for order in orders:
        table.add_row(
            order.order_num,
            short_date(order.purchase_date),
            order.display or "",
            "" if order.price is None else str(order.price),
            "" if order.status is None else order.status.name,
            "yes" if order.renew else "no",
            short_date(order.start_date),
            short_date(order.end_date),
        )
    return table
