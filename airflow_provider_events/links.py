"""Extra links: buttons on a finished task that open the vendor's page for what the task wrote to.

A link is built from a small XCom the operator pushes while it runs (:func:`push_link_target`): the object's
name and the account's region, never a credential or a payload. Airflow's task runner calls
:meth:`~VendorPageLink.get_link` after the task, stores the URL as the XCom ``_link_<class name>`` and the UI
shows it as a button.

The vendors document their APIs, not the URLs of their web apps: the hosts and paths below are inferred from
the apps' addresses and are marked so in ``docs/report.md``. A link whose target was never pushed (the task
failed before, or was skipped) is the empty string, which the UI shows disabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink, BaseXCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

#: the XCom key under which an operator pushes the ids its links need.
LINK_TARGET_KEY = "vendor_link_target"


def push_link_target(context: Context, vendor: str, region: object, name: str | None) -> None:
    """Record what the task's extra link points at: the vendor, its region and the object's name.

    :param vendor: the connection type (``acton``, ``gainsight_px``).
    :param region: the connection's ``region`` extra (any case; empty means the vendor's default).
    :param name: the object (an Act-On listing name, a Gainsight PX event name), or ``None`` for the list.
    """
    target = {"vendor": vendor, "region": str(region or "us").strip().lower(), "name": name or None}
    context["ti"].xcom_push(key=LINK_TARGET_KEY, value=target)


class VendorPageLink(BaseOperatorLink):
    """A link to a vendor's web app, built from the target the operator pushed (see :func:`push_link_target`).

    Subclasses name the vendor, the app host of each region and the page of one object or of the list.
    """

    vendor: ClassVar[str]
    #: the web app's base URL per region (inferred from the API hosts; not documented by the vendor).
    app_urls: ClassVar[dict[str, str]]
    #: the page of one object, ``{app}`` and ``{name}`` filled in.
    object_page: ClassVar[str]
    #: the page listing every object, used when the task has no single object name.
    list_page: ClassVar[str]

    def url(self, target: dict[str, Any] | None) -> str:
        """The page URL for a pushed target; empty when there is none for this vendor."""
        if not target or target.get("vendor") != self.vendor:
            return ""
        app = self.app_urls.get(str(target.get("region") or "us"), self.app_urls["us"])
        name = target.get("name")
        if not name:
            return self.list_page.format(app=app)
        return self.object_page.format(app=app, name=quote(str(name), safe=""))

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The URL of the object this task instance wrote to (from its XCom)."""
        target = BaseXCom.get_one(
            key=LINK_TARGET_KEY,
            dag_id=ti_key.dag_id,
            task_id=ti_key.task_id,
            run_id=ti_key.run_id,
            map_index=ti_key.map_index,
        )
        return self.url(target)


def regional_app_urls(domain: str, *other_regions: str) -> dict[str, str]:
    """A vendor's web app per region, as its API hosts are named: ``app.<domain>`` for ``us`` (the
    default region), ``app-<region>.<domain>`` for each other region."""
    urls = {"us": f"https://app.{domain}"}
    urls.update({region: f"https://app-{region}.{domain}" for region in other_regions})
    return urls


class ActOnListingLink(VendorPageLink):
    """The Act-On custom-event listing the task appended to (inferred URL)."""

    name = "Act-On listing"
    vendor = "acton"
    app_urls: ClassVar[dict[str, str]] = regional_app_urls("actonsoftware.com", "eu")
    object_page = "{app}/acton/lists/customEvents?listing={name}"
    list_page = "{app}/acton/lists/customEvents"


class GainsightPXEventLink(VendorPageLink):
    """The Gainsight PX custom event the task sent (inferred URL)."""

    name = "Gainsight PX event"
    vendor = "gainsight_px"
    app_urls: ClassVar[dict[str, str]] = regional_app_urls("aptrinsic.com", "eu", "us2")
    object_page = "{app}/analytics/events/custom?eventName={name}"
    list_page = "{app}/analytics/events/custom"


#: every link class, as registered under ``extra-links`` in the provider info.
EXTRA_LINKS = (ActOnListingLink, GainsightPXEventLink)
