"""Prometheus metrics of one process, served at ``/metrics`` (handlers/metrics.py).

Each application has its own registry (tests build many applications in one process).
Requests are labelled by the pattern of the route that matched, never by their path,
so that no task id and no Todo-Backend capability reaches a label; a request no route
matched is ``unmatched``. The live hub is read at scrape time: services/ knows nothing
of Prometheus.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from tornado import httputil
from tornado.routing import PathMatches, RuleRouter
from tornado.web import Application, RequestHandler

from services.live import Hub

UNMATCHED = "unmatched"

# The routes that take a password or a mini-program code: 401 there is a failed login,
# 429 a lockout (or the per-address ration of password checks).
LOGIN_ROUTES = frozenset({r"/api/login", r"/login", r"/api/login/wechat", r"/api/login/toutiao"})

# The attribute of a request that holds the pattern of the route it matched: it goes
# with the request, and costs less than a table of requests in flight.
_ROUTE = "taskhub_route"


class RoutePattern(PathMatches):
    """Matches as tornado's PathMatches does, and notes the pattern on the request."""

    def match(self, request: httputil.HTTPServerRequest) -> dict[str, Any] | None:
        matched = super().match(request)
        if matched is not None:
            setattr(request, _ROUTE, self.label)
        return matched

    @functools.cached_property
    def label(self) -> str:
        return self.regex.pattern.removesuffix("$")  # tornado adds the $


def label_routes(router: RuleRouter) -> None:
    """Makes every path rule of ``router`` (and of the routers under it) note its pattern."""
    for rule in router.rules:
        if isinstance(rule.target, RuleRouter):
            label_routes(rule.target)
        if type(rule.matcher) is PathMatches:
            rule.matcher = RoutePattern(rule.matcher.regex)


def route_of(handler: RequestHandler) -> str:
    """The pattern of the route ``handler`` answers; ``unmatched`` for the default 404."""
    route: str | None = getattr(handler.request, _ROUTE, None)
    if route is not None:
        return route
    if type(handler) is handler.application.settings.get("default_handler_class"):
        return UNMATCHED
    # a route added without a label (tests' add_handlers): its handler, never its path
    return type(handler).__qualname__


class LiveCollector(Collector):
    """The live hub's sockets and delivered changes, read when Prometheus scrapes."""

    def __init__(self, hub: Hub):
        self.hub = hub

    def collect(self) -> Iterator[Any]:
        sockets = GaugeMetricFamily("taskhub_live_sockets", "live WebSockets open in this process")
        sockets.add_metric([], sum(len(group) for group in self.hub.by_owner.values()))
        yield sockets
        delivered = CounterMetricFamily(
            "taskhub_live_changes_delivered",
            "task changes the change stream handed to this process's live sockets",
        )
        delivered.add_metric([], self.hub.changes_delivered)
        yield delivered
        gaps = CounterMetricFamily(
            "taskhub_live_gap_catch_ups",
            "gaps in a socket's changes filled from the change log",
        )
        gaps.add_metric([], self.hub.gap_catch_ups)
        yield gaps


class Metrics:
    """One application's registry and the metrics the access log feeds."""

    def __init__(self, hub: Hub | None):
        self.registry = CollectorRegistry(auto_describe=True)
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._latencies: dict[tuple[str, str], Any] = {}
        ProcessCollector(registry=self.registry)
        if hub is not None:
            self.registry.register(LiveCollector(hub))
        self.requests = Counter(
            "taskhub_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "taskhub_http_request_duration_seconds",
            "time from a request's arrival to its answer, by route pattern and method",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.database_errors = Counter(
            "taskhub_database_errors",
            "requests answered 503 because the database did not answer, by kind",
            ["route", "kind"],
            registry=self.registry,
        )
        self.login_failures = Counter(
            "taskhub_login_failures",
            "logins refused for wrong credentials (401), by route",
            ["route"],
            registry=self.registry,
        )
        self.login_lockouts = Counter(
            "taskhub_login_lockouts",
            "logins refused as locked out or over the rate of password checks (429), by route",
            ["route"],
            registry=self.registry,
        )

    # The labelled series, each looked up once: labels() costs a request a lock and
    # checks, and the label values are few (route patterns, methods, statuses).
    def _count(self, route: str, method: str, status: int) -> Any:
        key = (route, method, status)
        series = self._counts.get(key)
        if series is None:
            series = self._counts[key] = self.requests.labels(route, method, str(status))
        return series

    def _latency(self, route: str, method: str) -> Any:
        key = (route, method)
        series = self._latencies.get(key)
        if series is None:
            series = self._latencies[key] = self.latency.labels(route, method)
        return series

    def observe(self, handler: RequestHandler, route: str, status: int) -> None:
        """One answered request, from the access log."""
        method = handler.request.method or "-"
        if method not in _METHODS:
            method = "other"  # a label value per made-up method would grow without bound
        self._count(route, method, status).inc()
        self._latency(route, method).observe(handler.request.request_time())
        error = getattr(handler, "database_error", None)
        if error is not None:
            # pymongo's errors say whether an operation ran out of its time
            kind = "timeout" if getattr(error, "timeout", False) else "unavailable"
            self.database_errors.labels(route, kind).inc()
        if route in LOGIN_ROUTES:
            if status == 401:
                self.login_failures.labels(route).inc()
            elif status == 429:
                self.login_lockouts.labels(route).inc()


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def install(app: Application) -> Metrics:
    """Labels the application's routes and gives it its metrics (``settings["metrics"]``)."""
    label_routes(app.default_router)
    metrics = Metrics(app.settings["services"].live)
    app.settings["metrics"] = metrics
    return metrics


def metrics_of(handler: RequestHandler) -> Metrics | None:
    return handler.application.settings.get("metrics")
