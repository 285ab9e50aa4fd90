"""Quotas per tenant and per user of this gateway: queries started per minute, queries
running at once, and bytes per second relayed to browsers.

Queries past a quota are refused QUOTA_EXCEEDED with the time after which a retry can be
admitted; bytes are never refused, only paced: a tenant or user over its rate waits before
each frame, so no answer is cut and the gateway's time goes to the others. Sans-I/O: the
shell passes the monotonic time in, and sleeps for the pacing it is told.

A rate of N per minute (or per second) is a token bucket of N tokens refilled at that
rate: a burst of N, then N per period. 0 turns a quota off.

One of several replicas (docs/scaling.md) applies its share of each per-tenant quota: the
quota divided by the replicas live in Redis (``share``), so that a tenant's total over all
of them never passes it; the balancer spreads a tenant's sockets over the replicas, and
with them its load. Per-user quotas stay whole on each replica (a user's sockets are few,
often one)."""

from __future__ import annotations

from dataclasses import dataclass

from saeta.errors import SaetaError

# Concurrency quotas have no exact time: one of the running queries has to end first.
CONCURRENCY_RETRY_SECONDS = 1.0
# Buckets idle this long are full again and forgotten, so the tables stay small.
IDLE_FORGET_SECONDS = 120.0


class QuotaExceeded(SaetaError):
    """A query past a tenant's or user's quota; ``retry_after`` seconds until a retry
    can be admitted (for a rate, exactly; for concurrency, a hint)."""

    code = "QUOTA_EXCEEDED"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class QuotaCaps:
    queries_per_minute_per_user: int = 600
    queries_per_minute_per_tenant: int = 6000
    concurrent_queries_per_user: int = 64
    concurrent_queries_per_tenant: int = 4096
    bytes_per_second_per_user: int = 0
    bytes_per_second_per_tenant: int = 0


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; the balance may go below zero
    (a debt) when ``charge`` takes more than there is, as pacing does."""

    __slots__ = ("_at", "_tokens", "capacity", "rate")

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity, self.rate = capacity, rate
        self._tokens, self._at = capacity, now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` tokens are there (0: now)."""
        self._refill(now)
        return max(0.0, (amount - self._tokens) / self.rate)

    def take(self, amount: float, now: float) -> None:
        self._refill(now)
        self._tokens -= amount

    def charge(self, amount: float, now: float) -> float:
        """Takes ``amount`` whatever the balance; returns how long to wait so the rate
        holds (the time the debt takes to refill)."""
        self.take(amount, now)
        return max(0.0, -self._tokens / self.rate)

    def full_by(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self.capacity


class _Bucket:
    """A per-key table of buckets of one rate, forgotten once idle and full."""

    def __init__(self, per_period: float, period: float) -> None:
        self.capacity = float(per_period)
        self.rate = per_period / period
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}
        self._swept = 0.0

    def rescale(self, per_period: float, period: float) -> None:
        """A new rate for every bucket (a replica's share changed); balances are kept,
        capped at the new capacity."""
        self.capacity, self.rate = float(per_period), per_period / period
        for bucket in self._buckets.values():
            bucket.capacity, bucket.rate = self.capacity, self.rate

    @property
    def on(self) -> bool:
        return self.capacity > 0

    def of(self, key: tuple[str, ...], now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            self._sweep(now)
            bucket = self._buckets[key] = TokenBucket(self.capacity, self.rate, now)
        return bucket

    def _sweep(self, now: float) -> None:
        if now - self._swept < IDLE_FORGET_SECONDS:
            return
        self._swept = now
        for key in [k for k, b in self._buckets.items() if b.full_by(now)]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class Quotas:
    def __init__(self, caps: QuotaCaps) -> None:
        self.caps = caps
        self.replicas = 1  # the share: per-tenant quotas divided by this many replicas
        self._rate_user = _Bucket(caps.queries_per_minute_per_user, 60.0)
        self._rate_tenant = _Bucket(caps.queries_per_minute_per_tenant, 60.0)
        self._bytes_user = _Bucket(caps.bytes_per_second_per_user, 1.0)
        self._bytes_tenant = _Bucket(caps.bytes_per_second_per_tenant, 1.0)
        self._running: dict[tuple[str, ...], int] = {}

    def share(self, replicas: int) -> None:
        """This replica is one of ``replicas`` live ones: each per-tenant quota becomes
        that fraction of it (at least one query, and one byte a second, when on)."""
        replicas = max(1, replicas)
        if replicas == self.replicas:
            return
        self.replicas = replicas
        caps = self.caps
        self._rate_tenant.rescale(self._part(caps.queries_per_minute_per_tenant), 60.0)
        self._bytes_tenant.rescale(self._part(caps.bytes_per_second_per_tenant), 1.0)

    def _part(self, cap: int) -> float:
        return 0.0 if cap <= 0 else max(1.0, cap / self.replicas)

    def _tenant_concurrency(self) -> int:
        cap = self.caps.concurrent_queries_per_tenant
        return 0 if cap <= 0 else max(1, cap // self.replicas)

    def admit(self, tenant: str, user: str, now: float) -> None:
        """Counts a query of ``user`` in ``tenant`` as started, or raises QuotaExceeded
        (counting nothing) naming the first quota it is past."""
        caps = self.caps
        if 0 < caps.concurrent_queries_per_user <= self._running.get((tenant, user), 0):
            raise QuotaExceeded(
                f"at most {caps.concurrent_queries_per_user} queries at once per user", CONCURRENCY_RETRY_SECONDS
            )
        if 0 < (at_once := self._tenant_concurrency()) <= self._running.get((tenant,), 0):
            raise QuotaExceeded(self._tenant_what(f"{at_once} queries at once"), CONCURRENCY_RETRY_SECONDS)
        rates = [
            (table, key, what)
            for table, key, what in (
                (self._rate_user, (tenant, user), f"{caps.queries_per_minute_per_user} queries a minute per user"),
                (
                    self._rate_tenant,
                    (tenant,),
                    self._tenant_what(f"{self._part(caps.queries_per_minute_per_tenant):g} queries a minute"),
                ),
            )
            if table.on
        ]
        for table, key, what in rates:
            wait = table.of(key, now).wait_for(1, now)
            if wait > 0:
                raise QuotaExceeded(f"at most {what}", wait)
        for table, key, _ in rates:
            table.of(key, now).take(1, now)
        for key in ((tenant, user), (tenant,)):
            self._running[key] = self._running.get(key, 0) + 1

    def _tenant_what(self, amount: str) -> str:
        if self.replicas == 1:
            return f"{amount} per tenant"
        return f"{amount} per tenant on this replica (its share of the quota, over {self.replicas} replicas)"

    def done(self, tenant: str, user: str) -> None:
        """A query admitted by ``admit`` ended."""
        for key in ((tenant, user), (tenant,)):
            left = self._running.get(key, 0) - 1
            if left > 0:
                self._running[key] = left
            else:
                self._running.pop(key, None)

    def pace(self, tenant: str, user: str, nbytes: int, now: float) -> float:
        """Charges ``nbytes`` relayed to the user's and tenant's byte rates; returns how
        long to wait before sending them so both rates hold (0: at once)."""
        wait = 0.0
        for table, key in ((self._bytes_user, (tenant, user)), (self._bytes_tenant, (tenant,))):
            if table.on:
                wait = max(wait, table.of(key, now).charge(nbytes, now))
        return wait

    def running(self) -> int:
        """Keys with queries running (for tests and stats)."""
        return len(self._running)
