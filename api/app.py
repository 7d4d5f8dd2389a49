"""The FastAPI application of the control plane."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from api.auth import ApiKey, KeyRing
from api.schemas import KillSwitchIn, KillSwitchOut, LevelIn, SignalIn, SubmitOut
from core.connector import Connector
from core.enums import Action, LevelUnit, OrderType, Side, VolumeKind
from core.errors import ParseError
from core.mirror import MirrorLog
from core.router import Router
from core.signal import Level, Signal


@dataclass(slots=True)
class ApiContext:
    """What the API reads and drives; built by the daemon."""

    router: Router
    connectors: Mapping[str, Connector]
    keys: KeyRing
    sources: tuple[str, ...]
    mirror: MirrorLog
    accepting: Callable[[], bool] = lambda: True


def _level(value: Decimal | LevelIn | None) -> Level | None:
    if value is None:
        return None
    if isinstance(value, LevelIn):
        return Level(value.value, LevelUnit(value.unit))
    return Level(value, LevelUnit.PRICE)


def to_signal(body: SignalIn, source: str, received_ns: int | None = None) -> Signal:
    """Validate a REST signal the way the webhook does and build the core ``Signal``."""
    action = Action(body.action)
    if action in (Action.OPEN, Action.REVERSE) and (body.symbol is None or body.side is None):
        raise ParseError(f"{action.value} needs 'symbol' and 'side'", "side" if body.symbol else "symbol", 422)
    if action is Action.OPEN and body.volume is not None and body.volume <= 0:
        raise ParseError("volume must be positive", "volume", 422)
    if action in (Action.CLOSE_PART, Action.TARGET) and body.volume is None:
        raise ParseError(f"{action.value} needs 'volume'", "volume", 422)
    if action is Action.CLOSE_PART and body.volume_kind == "fraction" and not (0 < (body.volume or 0) <= 1):
        raise ParseError("a fraction is between 0 and 1", "volume", 422)
    if action is Action.MODIFY and body.sl is None and body.tp is None:
        raise ParseError("modify needs 'sl' or 'tp'", "sl", 422)
    if body.order_type != "market" and body.price is None:
        raise ParseError(f"a {body.order_type} order needs 'price'", "price", 422)
    tps_in = body.tp if isinstance(body.tp, list) else ([body.tp] if body.tp is not None else [])
    tps = tuple(level for level in (_level(tp) for tp in tps_in) if level is not None)
    extra: dict[str, Any] = {}
    if received_ns is not None:
        extra["received_ns"] = received_ns
    return Signal(
        source=source,
        action=action,
        symbol=body.symbol,
        side=Side(body.side) if body.side else None,
        order_type=OrderType(body.order_type),
        volume=body.volume,
        volume_kind=VolumeKind(body.volume_kind),
        price=body.price,
        sl=_level(body.sl),
        tps=tps,
        comment=body.comment,
        position_ref=body.position_ref,
        origin_id=body.id,
        raw=body.model_dump_json(exclude_none=True),
        **extra,
    )


def create_app(ctx: ApiContext) -> FastAPI:
    """The control plane app. Every route but ``/api/v1/health`` needs a bearer key."""
    app = FastAPI(
        title="Copier control plane",
        version="1",
        description="Send signals, read accounts and positions, follow each signal to every follower.",
    )

    def require(scope: str) -> Callable[[Request], ApiKey]:
        def check(request: Request) -> ApiKey:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise HTTPException(401, "missing bearer API key", headers={"WWW-Authenticate": "Bearer"})
            key = ctx.keys.find(token.strip())
            if key is None:
                raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
            if not key.allows(scope):
                raise HTTPException(403, f"API key {key.name!r} lacks the {scope!r} scope")
            return key

        return check

    read = Annotated[ApiKey, Depends(require("read"))]
    trade = Annotated[ApiKey, Depends(require("trade"))]
    admin = Annotated[ApiKey, Depends(require("admin"))]

    @app.exception_handler(ParseError)
    async def parse_error(_: Request, exc: ParseError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.reason}
        if exc.field:
            body["field"] = exc.field
        return JSONResponse(body, status_code=exc.status)

    @app.get("/api/v1/health", tags=["status"])
    async def health() -> dict[str, Any]:
        return {"ok": True, "accounts": {name: c.state.value for name, c in ctx.connectors.items()}}

    @app.post("/api/v1/signals", response_model=SubmitOut, tags=["signals"])
    async def post_signal(body: SignalIn, _key: trade) -> SubmitOut:
        """Submit a normalized signal. A repeated ``id`` from the same source is not traded twice."""
        if not ctx.accepting():
            raise HTTPException(503, "shutting down; retry")
        source = body.source or (ctx.sources[0] if ctx.sources else None)
        if source is None or source not in ctx.sources:
            raise HTTPException(422, f"unknown source {source!r}; configured: {', '.join(ctx.sources)}")
        result = ctx.router.submit(to_signal(body, source))
        return SubmitOut(
            signal_id=result.signal_id,
            accepted=result.accepted,
            duplicate_of=result.duplicate_of,
            followers=result.followers,
        )

    @app.get("/api/v1/signals/{signal_id}", tags=["signals"])
    async def get_signal(signal_id: str, _key: read) -> dict[str, Any]:
        """The signal and, for every follower, its outcome and the reason in words."""
        record = ctx.router.outcomes.get(signal_id)
        if record is None:
            raise HTTPException(404, f"no signal {signal_id!r} (unknown, or older than the in-memory window)")
        return record.to_json()

    @app.get("/api/v1/accounts", tags=["accounts"])
    async def accounts(_key: read) -> list[dict[str, Any]]:
        out = []
        for name, conn in ctx.connectors.items():
            state = conn.account()
            out.append(
                {
                    "name": name,
                    "venue": conn.venue,
                    "state": conn.state.value,
                    "balance": format(state.balance, "f"),
                    "equity": format(state.equity, "f"),
                    "currency": state.currency,
                    "open_positions": state.open_positions,
                    "kill_switch": ctx.router.kill_all or name in ctx.router.killed_accounts,
                }
            )
        return out

    @app.get("/api/v1/accounts/{name}/positions", tags=["accounts"])
    async def positions(name: str, _key: read) -> list[dict[str, Any]]:
        conn = ctx.connectors.get(name)
        if conn is None:
            raise HTTPException(404, f"no account {name!r}")
        return [p.to_json() for p in await conn.positions()]

    @app.post("/api/v1/kill-switch", response_model=KillSwitchOut, tags=["safety"])
    async def kill_switch(body: KillSwitchIn, _key: admin) -> KillSwitchOut:
        """Stop (``on: true``) or allow again new positions, for all accounts or one. Closes still go through."""
        if body.account is not None and body.account not in ctx.connectors:
            raise HTTPException(404, f"no account {body.account!r}")
        ctx.router.set_kill_switch(body.on, body.account)
        return KillSwitchOut(all=ctx.router.kill_all, accounts=sorted(ctx.router.killed_accounts))

    from api.logs import log_routes

    app.include_router(log_routes(ctx))
    return app
